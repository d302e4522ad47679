package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dynamoAPI is the part of the DynamoDB client the ledger uses.
type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// How long items that only exist for deduplication live (DynamoDB TTL, attribute expiresAt).
const (
	DigestMarkerTTL  = 30 * 24 * time.Hour
	NotificationTTL  = 14 * 24 * time.Hour
	EvidenceTTL      = 90 * 24 * time.Hour // as long as ECS keeps service deployments
	lockRecordExtra  = 24 * time.Hour      // a lock item outlives its lease by this, for forensics
	recordSortLayout = "2006-01-02T15:04:05.000000000Z"
)

// ErrLockLost reports that the caller no longer holds the lock it tried to renew.
var ErrLockLost = errors.New("lock lost")

// Table is the ledger.
type Table struct {
	db   dynamoAPI
	name string
	now  func() time.Time
}

// New returns the ledger in the named table.
func New(db dynamoAPI, table string) *Table {
	return &Table{db: db, name: table, now: time.Now}
}

// WithClock returns a copy of the ledger that reads time from now (tests).
func (t *Table) WithClock(now func() time.Time) *Table {
	c := *t
	c.now = now
	return &c
}

// Name is the table name.
func (t *Table) Name() string { return t.name }

func serviceKey(key string) string { return "SVC#" + key }
func sdepKey(arn string) string    { return "SDEP#" + arn }
func resultKey(id string) string   { return "RESULT#" + id }

func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func ttl(at time.Time) types.AttributeValue { return n(at.Unix()) }

func getS(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, k string) int64 {
	if v, ok := item[k].(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

func getTime(item map[string]types.AttributeValue, k string) time.Time {
	if ns := getN(item, k); ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}

func getJSON(item map[string]types.AttributeValue, k string, v any) error {
	raw := getS(item, k)
	if raw == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("ledger item %s/%s: attribute %s: %w", getS(item, "pk"), getS(item, "sk"), k, err)
	}
	return nil
}

func mustJSON(v any) types.AttributeValue {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only greenlight's own plain structs are stored
	}
	return s(string(b))
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func (t *Table) wrap(op string, err error) error {
	return fmt.Errorf("ledger %s (table %s): %w", op, t.name, err)
}

// CreateTableInput describes the ledger table exactly as template.yaml declares it (keys,
// on-demand billing); tests and the rehearsal create it with this. TTL (expiresAt) and
// point-in-time recovery are set separately by the template.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   &name,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: strPtr("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: strPtr("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: strPtr("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: strPtr("sk"), KeyType: types.KeyTypeRange},
		},
	}
}

func strPtr(v string) *string { return &v }
