package ginoauth

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// UserCodeAlphabet is the alphabet of user codes (RFC 8628 section 6.1):
// twenty consonants, no vowels (no words) and none of the look-alikes of
// digits. A user code is UserCodeLength of them, 20^8 ≈ 2.6e10 codes (34.5
// bits); see docs/device-flow.md for the guessing bound.
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLength is the number of characters of a user code.
const UserCodeLength = 8

// newUserCode draws a normalised user code.
func newUserCode() (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(UserCodeAlphabet)))
	for range UserCodeLength {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b.WriteByte(UserCodeAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// NormalizeUserCode turns what a user typed into a normalised user code:
// upper case, without dashes and white space. It returns "" when the
// result is not UserCodeLength characters of UserCodeAlphabet.
func NormalizeUserCode(s string) string {
	if len(s) > 64 {
		return ""
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 'Z' || !strings.ContainsRune(UserCodeAlphabet, r) {
			return ""
		}
		b.WriteRune(r)
	}
	if b.Len() != UserCodeLength {
		return ""
	}
	return b.String()
}

// FormatUserCode shows a normalised user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}
