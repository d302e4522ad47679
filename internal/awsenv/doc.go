// Package awsenv builds the AWS configuration every greenlight process uses, from the
// environment: the region and credentials of the Lambda or the shell, any endpoint override
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, honoured by the SDK itself), standard
// retries with a per-attempt timeout, and the CloudWatch wire-protocol override that local endpoints need.
package awsenv
