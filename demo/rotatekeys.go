package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/manage"
)

// rotateKeys is `demo rotatekeys`: a new OpenID Connect signing key for
// each algorithm, published at once and signing once every instance's key
// cache (a minute) and relying parties' JWKS caches have seen it; the keys
// it replaces stay published until their id_tokens have expired.
func (e *runEnv) rotateKeys(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rotatekeys", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var rf redisFlags
	rf.define(fs)
	keyFile := fs.String("secret-key-file", "", "file holding the secret key serve uses (the private keys are sealed with a key derived from it), when "+envSecretKey+" is unset")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return manage.ErrUsage // flag printed the error and the usage
	}
	if fs.NArg() != 0 {
		return &usageError{"takes no arguments: " + strings.Join(fs.Args(), " ")}
	}
	target, err := rf.target(e.getenv)
	if err != nil {
		return err
	}
	if target.url == "" {
		return &usageError{"needs Redis (--redis or --redis-cluster): the keys of an embedded store die with the command"}
	}
	ke := *e
	ke.secretKeyFile = *keyFile
	b, err := ke.openBackend(ctx, target)
	if err != nil {
		return err
	}
	defer b.close()
	p, err := ginoauth.New(ginoauth.Config{Store: b.store, SecretKey: b.secretKey, Logger: e.log(),
		OIDC: ginoauth.OIDCConfig{Enabled: true}})
	if err != nil {
		return err
	}
	defer p.Close()
	kids, err := p.RotateKeys(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "New signing keys %s: every instance publishes them within a minute, and they sign two minutes from now (a key of an algorithm\nnot in use yet signs at once); the keys they replace stay published until their id_tokens expire.\n",
		strings.Join(kids, ", "))
	return nil
}
