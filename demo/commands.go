package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/manage"
)

// manage runs the management commands of package manage (createuser,
// createapplication, listapplications, deleteapplication, revoketokens) on the
// demo's backend: the Redis of --redis or REDIS_URL, or the Redis Cluster
// of --redis-cluster or REDIS_CLUSTER_URL (redisFlags.target), or else an
// embedded store that forgets everything when the command exits. --site social acts
// on the social site's keys (demo serve --site social) instead of the
// API's.
func (e *runEnv) manage(ctx context.Context, args []string) error {
	var (
		rf   redisFlags
		site string
		b    *backend
	)
	cli := &manage.CLI{
		Stdout: e.stdout,
		Stderr: e.stderr,
		Flags: func(fs *flag.FlagSet) {
			rf.define(fs)
			fs.Func("site", `"social": the social site's users and applications (demo serve --site social), under Redis keys "`+socialPrefix+`"`, func(v string) error {
				if v != siteSocial {
					return fmt.Errorf("the only site is %q", siteSocial)
				}
				site = v
				return nil
			})
		},
		Open: func(ctx context.Context) (*ginoauth.Provider, error) {
			target, err := rf.target(e.getenv)
			if err != nil {
				return nil, err
			}
			se := e
			if site == siteSocial {
				se = e.socialSite()
			}
			// The commands sign nothing: without a key given, a random one.
			ke := *se
			ke.keyOptional = true
			se = &ke
			grants, err := manageGrants(site, e.log())
			if err != nil {
				return nil, err
			}
			if b, err = se.openBackend(ctx, target); err != nil {
				return nil, err
			}
			if b.embedded {
				fmt.Fprintf(e.stderr, "demo %s: warning: no Redis configured (--redis or %s, --redis-cluster or %s), so this uses\n"+
					"an embedded store that forgets everything when the command exits; a running 'demo serve' will not see it.\n",
					args[0], envRedisURL, envRedisClusterURL)
			}
			return ginoauth.New(ginoauth.Config{Store: b.store, SecretKey: b.secretKey, Logger: e.log(), GrantTypes: grants,
				Scopes: demoScopes(), DefaultScopes: demoDefaultScopes()})
		},
	}
	err := cli.Run(ctx, args)
	if b != nil {
		b.close()
	}
	return err
}

// printRoutes is `demo routes`: the route table of the registry, then the
// endpoints Provider.Mount registers outside it.
func (e *runEnv) printRoutes(args []string) error {
	if len(args) > 0 {
		return &usageError{"routes takes no arguments"}
	}
	a, err := newApp(options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := a.routes.WriteTable(e.stdout); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nMounted by the provider (Provider.Mount); clients authenticate with their own\n"+
		"credentials (HTTP Basic, or client_id and client_secret), not a bearer token, and\n"+
		"the authorization endpoint serves the user logged in at "+loginPath+":")
	if err := writeEndpoints(e.stdout, providerEndpoints); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nServed by the demo with the provider's token handler, for the tutorials of\n"+
		"django-oauth2 (also without the trailing slash):")
	return writeEndpoints(e.stdout, tokenAliases)
}

// writeEndpoints writes a table of endpoints: method, path, what.
func writeEndpoints(w io.Writer, endpoints []providerEndpoint) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range endpoints {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.method, p.path, p.what)
	}
	return tw.Flush()
}
