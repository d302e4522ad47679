package routes

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ssmAPI is the part of the SSM client the Store uses.
type ssmAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// ErrNotFound reports that the routes parameter does not exist.
var ErrNotFound = errors.New("routes parameter not found")

// Store reads and writes the routes document in one SSM parameter.
type Store struct {
	client ssmAPI
	name   string
}

// NewStore returns a Store for the parameter name (for example /greenlight/routes).
func NewStore(client ssmAPI, name string) *Store { return &Store{client: client, name: name} }

// Name is the parameter's name.
func (s *Store) Name() string { return s.name }

// Load reads, parses and validates the document.
func (s *Store) Load(ctx context.Context) (*Document, error) {
	out, err := s.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.name)})
	if err != nil {
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w: %s does not exist; deploy the stack or run `greenlight routes put FILE`", ErrNotFound, s.name)
		}
		return nil, fmt.Errorf("read routes parameter %s: %w", s.name, err)
	}
	d, err := Parse([]byte(aws.ToString(out.Parameter.Value)))
	if err != nil {
		return nil, fmt.Errorf("routes parameter %s: %w", s.name, err)
	}
	return d, nil
}

// Save validates the document and overwrites the parameter. An invalid document is never
// written.
func (s *Store) Save(ctx context.Context, d *Document) error {
	if err := d.Validate(); err != nil {
		return err
	}
	b, err := d.JSON()
	if err != nil {
		return err
	}
	tier := ssmtypes.ParameterTierStandard
	if len(b) > 4096 {
		tier = ssmtypes.ParameterTierAdvanced
	}
	_, err = s.client.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(s.name), Value: aws.String(string(b)), Type: ssmtypes.ParameterTypeString,
		Overwrite: aws.Bool(true), Tier: tier,
	})
	if err != nil {
		return fmt.Errorf("write routes parameter %s: %w", s.name, err)
	}
	return nil
}
