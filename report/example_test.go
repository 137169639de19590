package report_test

import (
	"fmt"

	"github.com/wh-gitd/wh-gitd/report"
)

// A webhook target checks a notification by signing the body it received
// with its secret and comparing the result with the header, in constant
// time (hmac.Equal).
func ExampleSign() {
	body := []byte(`{"event":"failure"}`)
	fmt.Println(report.SignatureHeader+":", report.Sign("notify-secret-0123456789", body))
	// Output: X-Wh-Gitd-Signature-256: sha256=917bd66afb5dd67abce5f790f28e1411d8202e58f9eea3216b333de125d4652e
}
