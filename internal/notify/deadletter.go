package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DeadLetter is what the notifier sends to its dead-letter queue (DLQ_URL) when a delivery
// fails for good: which result, which channel, what the platform said, and the result itself
// so it can be replayed. It never holds a webhook URL.
type DeadLetter struct {
	ResultID     string          `json:"resultId,omitempty"`
	Channel      string          `json:"channel,omitempty"`
	ChannelType  string          `json:"channelType,omitempty"`
	Status       int             `json:"status,omitempty"`
	Error        string          `json:"error"`
	At           time.Time       `json:"at"`
	SNSMessageID string          `json:"snsMessageId,omitempty"`
	Result       json.RawMessage `json:"result,omitempty"`
	// Message is the raw SNS message when it was not a result at all.
	Message string `json:"message,omitempty"`
}

func (n *Notifier) sendDeadLetter(ctx context.Context, dl DeadLetter) error {
	if n.Config.DLQURL == "" {
		return fmt.Errorf("%s is not set", DLQURLEnv)
	}
	b, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	attrs := map[string]sqstypes.MessageAttributeValue{}
	for k, v := range map[string]string{"resultId": dl.ResultID, "channel": dl.Channel} {
		if v != "" {
			attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	_, err = n.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(n.Config.DLQURL),
		MessageBody:       aws.String(string(b)),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("send to the dead-letter queue %s: %w", n.Config.DLQURL, err)
	}
	return nil
}
