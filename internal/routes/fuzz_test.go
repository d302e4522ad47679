package routes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRoutesDocument: Parse never panics on any document (JSON or YAML); every rejection is
// a *ValidationError with at least one problem in words; every accepted document is valid,
// and its canonical JSON parses back to the same JSON. Seeds: testdata/full.yaml and
// testdata/fuzz/FuzzRoutesDocument.
func FuzzRoutesDocument(f *testing.F) {
	full, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	if d, err := Parse(full); err == nil {
		if b, err := d.JSON(); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := Parse(doc)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Parse(%q) error %v (%T); want a *ValidationError with problems", doc, err, err)
			}
			for _, p := range ve.Problems {
				if p.Message == "" {
					t.Fatalf("Parse(%q): a problem without a message (field %q)", doc, p.Field)
				}
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a document Validate refuses: %v", doc, err)
		}
		j1, err := d.JSON()
		if err != nil {
			t.Fatalf("Parse(%q) accepted a document that does not encode: %v", doc, err)
		}
		d2, err := Parse(j1)
		if err != nil {
			t.Fatalf("the canonical JSON of an accepted document is refused:\n%s\n%v\n(from %q)", j1, err, doc)
		}
		j2, err := d2.JSON()
		if err != nil || !bytes.Equal(j1, j2) {
			t.Fatalf("re-encoding changed the document:\n%s\nthen\n%s\n(from %q)", j1, j2, doc)
		}
	})
}
