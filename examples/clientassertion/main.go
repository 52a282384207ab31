// Command clientassertion prints what a client needs for private_key_jwt
// and client_secret_jwt client authentication (RFC 7523 section 2.2):
// the public JWK Set of a PEM private key, and signed client assertions.
//
//	clientassertion jwks -key client-key.pem [-kid ID]
//	clientassertion sign -key client-key.pem -client ID -aud TOKEN_URL [-kid ID]
//	clientassertion sign -secret SECRET -client ID -aud TOKEN_URL
//
// An assertion is good for one request (its jti is single-use) and for
// one minute. docs/client-authentication.md shows it at work.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "clientassertion:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: clientassertion jwks|sign [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	keyFile := fs.String("key", "", "PEM private key (EC P-256, RSA or Ed25519)")
	kid := fs.String("kid", "key-1", "the key's kid")
	secret := fs.String("secret", "", "client secret (client_secret_jwt, HS256) instead of -key")
	client := fs.String("client", "", "client_id: iss and sub")
	aud := fs.String("aud", "", "the token endpoint URL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "jwks":
		key, _, err := readKey(*keyFile)
		if err != nil {
			return err
		}
		pub := jose.JSONWebKey{Key: key.Public(), KeyID: *kid, Use: "sig"}
		return json.NewEncoder(os.Stdout).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	case "sign":
		if *client == "" || *aud == "" {
			return errors.New("sign needs -client and -aud")
		}
		sk := jose.SigningKey{Algorithm: jose.HS256, Key: []byte(*secret)}
		opts := (&jose.SignerOptions{}).WithType("JWT")
		if *secret == "" {
			key, alg, err := readKey(*keyFile)
			if err != nil {
				return err
			}
			sk = jose.SigningKey{Algorithm: alg, Key: key}
			opts = opts.WithHeader("kid", *kid)
		}
		signer, err := jose.NewSigner(sk, opts)
		if err != nil {
			return err
		}
		jti := make([]byte, 16)
		if _, err := rand.Read(jti); err != nil {
			return err
		}
		now := time.Now()
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: *client, Subject: *client, Audience: jwt.Audience{*aud},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
			ID: base64.RawURLEncoding.EncodeToString(jti),
		}).Serialize()
		if err != nil {
			return err
		}
		fmt.Println(raw)
		return nil
	}
	return fmt.Errorf("unknown command %q: jwks or sign", args[0])
}

// readKey reads a PEM private key (PKCS#8, SEC 1 or PKCS#1) and returns
// it with its JWS algorithm.
func readKey(file string) (crypto.Signer, jose.SignatureAlgorithm, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, "", fmt.Errorf("%s: no PEM block", file)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				return nil, "", fmt.Errorf("%s: not a PKCS#8, SEC 1 or PKCS#1 private key", file)
			}
		}
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, jose.ES256, nil
	case *rsa.PrivateKey:
		return k, jose.RS256, nil
	case ed25519.PrivateKey:
		return k, jose.EdDSA, nil
	}
	return nil, "", fmt.Errorf("%s: a %T key is not supported", file, key)
}
