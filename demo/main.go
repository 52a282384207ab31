// Command demo is the ginoauth demo: an OAuth2 provider for Gin, modelled on
// Django OAuth Toolkit, serving the snippets API of Django REST Framework's
// tutorial.
//
//	demo [serve] [--addr :8000] [--redis URL | --redis-cluster URL] [--log-level info]
//	             [--redis-pipelines N] [--bench] [--cors-origin ORIGIN]... [--secure-cookies]
//	             [--token-rate-limit 600] [--validation-cache=true] [--dpop-nonces]
//	             [--issuer URL] [--site social | --social-url URL [--social-client-id ID]...]
//	             [--resource URL] [--resource-also URL]...
//	             [--access-token-format opaque|jwt] [--access-token-alg RS256|ES256]
//	             [--secret-key-file PATH] [--metrics-addr ADDR] [--trace]
//	             [--snippet-write-rate 100/hour] [--snippet-code-limit 65536]
//	             [--trusted-proxy ADDR]...
//	demo createuser --username U --password P [--email E] [--given-name G] [--family-name F]
//	                [--staff] [--site social]
//	                [--redis URL | --redis-cluster URL]
//	demo createapplication [--name N] [--redirect-uris "URI ..."] [--skip-authorization]
//	                       [--client-id ID] [--user U] [--scopes "read write"] [--json]
//	                       [--site social] [--redis URL | --redis-cluster URL]
//	                       <confidential|public> <GRANT[,GRANT...]>
//	                       (or, instead of the arguments: --metadata '<JSON>')
//	demo listapplications [--user U] [--json] [--site social] [--redis URL | --redis-cluster URL]
//	demo deleteapplication [--site social] [--redis URL | --redis-cluster URL] <client_id>
//	demo revoketokens (--user U | --client-id ID) [--site social]
//	                  [--redis URL | --redis-cluster URL]
//	demo rotatekeys [--secret-key-file PATH] [--redis URL | --redis-cluster URL]
//	demo routes
//	demo help
//
// 'demo help' says what each command and flag does, and 'demo COMMAND -h'
// details a command's flags. --site social acts on the fake social site of
// docs/social-login.md (its users, applications and server), --social-url
// makes the API trust that site's tokens issued to the clients named by
// --social-client-id. --metrics-addr ADDR serves
// Prometheus metrics at http://ADDR/metrics on a listener of its own
// (docs/metrics.md), and --trace prints OpenTelemetry spans (the token
// endpoint, Redis commands) to standard error.
//
// Every command but routes and help keeps its data in the Redis of --redis
// (or the REDIS_URL environment variable), or in the Redis Cluster of
// --redis-cluster (or REDIS_CLUSTER_URL, which wins over REDIS_URL), in
// go-redis's cluster URL form redis://host:7000?addr=host2:7001 (see
// docs/cluster.md). Without either everything lives in memory: serve then creates a demo user and application
// and prints their credentials with curl lines to try. Either way it
// registers a demo client, a web application at /client/ that signs users
// in with the authorization code grant and PKCE, through the login page at
// /accounts/login/ and the consent page. See docs/getting-started.md and
// docs/tutorial-code-flow.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"

	"github.com/ginoauth/toolkit/ginoauth/manage"
)

func main() {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	env := newProcessEnv(os.Stdout, os.Stderr, os.Getenv)
	redis.SetLogger(redisLogger{env.logger})
	os.Exit(run(context.Background(), os.Args[1:], env))
}

// newProcessEnv is the environment main runs commands with: the process's
// streams and environment, and a text logger on stderr at the level of
// logLevel, which serve sets from --log-level (info until then).
func newProcessEnv(stdout, stderr io.Writer, getenv func(string) string) *runEnv {
	level := new(slog.LevelVar)
	return &runEnv{
		stdout:   stdout,
		stderr:   stderr,
		getenv:   getenv,
		prefix:   defaultPrefix,
		logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		logLevel: level,
	}
}

// redisLogger sends go-redis's own messages (connection pool failures) to
// the demo's log, as warnings.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
}

// runEnv is what a command runs with: the process's streams and
// environment, or a test's.
type runEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// prefix is the prefix of every Redis key ("demo:").
	prefix string
	// dial, if set, replaces connecting to a Redis URL (tests). The client
	// it returns is not closed by the command.
	dial func(url string) (redis.UniversalClient, error)
	// logger, if set, replaces the text logger on stderr.
	logger *slog.Logger
	// logLevel, if set, is the level logger logs at, which serve's
	// --log-level sets (newProcessEnv). Without it, serve leaves the level
	// of a logger it was given alone (a test's).
	logLevel *slog.LevelVar
	// storeOpts are extra options for the Redis store (serve's
	// --redis-pipelines).
	storeOpts []redisstore.Option
	// secretKeyFile is serve's --secret-key-file: where the secret key is
	// when GINOAUTH_SECRET_KEY is unset.
	secretKeyFile string
	// keyOptional lets openBackend make a random secret key on Redis when
	// none is given: for the management commands, which sign nothing.
	keyOptional bool
	// serving, if set, is called with the base URL once serve listens.
	serving func(baseURL string)
}

// log is the logger of commands: logger, or else a text logger on stderr
// at the level of logLevel (info without it).
func (e *runEnv) log() *slog.Logger {
	if e.logger != nil {
		return e.logger
	}
	opts := &slog.HandlerOptions{}
	if e.logLevel != nil {
		opts.Level = e.logLevel
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// setLogLevel makes the logger of commands log at level from now on: it
// sets logLevel, or gives the environment one if it has no logger of its
// own. A logger it was given without logLevel (a test's) keeps its level.
func (e *runEnv) setLogLevel(level slog.Level) {
	if e.logLevel == nil {
		if e.logger != nil {
			return
		}
		e.logLevel = new(slog.LevelVar)
	}
	e.logLevel.Set(level)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usageText = `demo: the ginoauth demo, an OAuth2 provider for Gin serving the snippets API
of Django REST Framework's tutorial.

Usage:
  demo [serve] [--addr :8000] [--redis URL | --redis-cluster URL] [--log-level info]
               [--redis-pipelines N] [--bench] [--cors-origin ORIGIN]... [--secure-cookies]
               [--token-rate-limit 600] [--validation-cache=true] [--dpop-nonces]
               [--issuer URL] [--site social | --social-url URL [--social-client-id ID]...]
               [--resource URL] [--resource-also URL]...
               [--access-token-format opaque|jwt] [--access-token-alg RS256|ES256]
               [--secret-key-file PATH]
               [--metrics-addr ADDR] [--trace]
               [--snippet-write-rate 100/hour] [--snippet-code-limit 65536]
               [--trusted-proxy ADDR]...
        Run the server. Without Redis, it creates a demo user and application
        in memory and prints their credentials with curl lines to try. It also
        registers the demo client (a public code-grant application; with Redis,
        once, reused on restarts) served at /client/, with login at
        /accounts/login/.
        --log-level debug, info (a line per request), warn or error: the least
        level logged. --redis-pipelines N: with Redis, how many lookups may be on
        the wire before concurrent ones share a pipeline (-1: never share).
        --bench adds the routes of docs/benchmarks.md under /bench/.
        --cors-origin (repeatable) lets a browser app on that origin call the
        token endpoints and the API; --secure-cookies marks the session cookies
        Secure (behind a TLS proxy); --token-rate-limit is the token requests a
        minute allowed per client and per address (0: no limit).
        --trusted-proxy ADDR (repeatable, an IP or CIDR block): a proxy or load
        balancer whose X-Forwarded-For names the client the per-address
        budgets count; without one, the peer is the client.
        --validation-cache=false: with Redis, read every token from Redis instead
        of the in-process cache kept in step by pub/sub. --dpop-nonces: DPoP
        proofs must carry a server nonce (docs/dpop.md). --issuer URL:
        the issuer of the metadata and of iss (default: the request's host).
        --resource URL: the API's resource identifier (RFC 8707), the audience of
        tokens issued without a resource parameter and the one the snippets API
        requires (default: the issuer, else the server's URL, with a final slash);
        --resource-also URL (repeatable): another resource tokens may be asked for.
        --access-token-format jwt: RFC 9068 JWT access tokens for applications that
        name no format (docs/jwt-access-tokens.md), signed --access-token-alg.
        --metrics-addr ADDR serves Prometheus metrics at http://ADDR/metrics on a
        listener of its own (docs/metrics.md); --trace prints OpenTelemetry spans
        of the token endpoint and of Redis commands to stderr.
        --snippet-write-rate N/period per user (0: no limit); --snippet-code-limit BYTES.
        --secret-key-file PATH: the secret key (hex or base64, 32 bytes or more)
        when GINOAUTH_SECRET_KEY is unset; with Redis, one of them is required.
        --site, --social-url and --social-client-id: see Social login below.
  demo createuser --username U --password P [--email E] [--given-name G] [--family-name F]
                  [--staff] [--site social]
                  [--redis URL | --redis-cluster URL]
        Create a user who can get tokens with the password grant.
  demo createapplication [--name N] [--redirect-uris "URI ..."] [--skip-authorization]
                         [--client-id ID] [--user U] [--scopes "read write"] [--json]
                         [--site social] [--redis URL | --redis-cluster URL]
                         <confidential|public> <GRANT[,GRANT...]>
                         (or, instead of the arguments: --metadata '<JSON>')
        Register an OAuth2 application (client) and print its credentials.
        GRANT is password, client-credentials, authorization-code or device-code
        (or, for the API of docs/social-login.md, convert-token or token-exchange).
        --metadata takes an RFC 7591 client metadata document instead (redirect_uris,
        grant_types, token_endpoint_auth_method, jwks, scope, client_name, ...):
        see "Client metadata" in docs/applications.md.
  demo listapplications [--user U] [--json] [--site social] [--redis URL | --redis-cluster URL]
        List the applications (of one owner).
  demo deleteapplication [--site social] [--redis URL | --redis-cluster URL] <client_id>
        Delete an application and revoke every token issued to it.
  demo revoketokens (--user U | --client-id ID) [--site social]
                    [--redis URL | --redis-cluster URL]
        Revoke every grant of a user, of an application, or of both.
  demo rotatekeys [--secret-key-file PATH] [--redis URL | --redis-cluster URL]
        Add new OpenID Connect signing keys (RS256, ES256): published at once,
        signing two minutes later; the keys they replace stay published until
        their id_tokens expire (docs/oidc.md).
  demo routes
        List the API routes and the permissions each requires.
  demo help
        Show this help (as do -h and --help; 'demo COMMAND -h' details a command's flags).

Social login (docs/social-login.md):
  demo serve --site social [--addr :8001] [--redis URL | --redis-cluster URL]
        Run as the fake social site whose tokens the API converts; with Redis,
        under keys demo_social:, so it may share the API's Redis.
  demo serve --social-url URL --social-client-id ID [--social-client-id ID]...
        Let the API convert the tokens the social site at URL issued to the
        clients named (without --social-client-id it converts none).
  demo createuser --site social ... / demo createapplication --site social ...
        Act on the social site's users and applications (any command but
        serve, routes and help takes --site social).
  demo createapplication ... confidential convert-token,token-exchange
        An application allowed to convert tokens (GRANT convert-token, token-exchange).

Environment:
  REDIS_URL            Redis to keep everything in (redis://host:6379/0); --redis wins.
  REDIS_CLUSTER_URL    Redis Cluster to keep everything in, as
                       redis://host:7000?addr=host2:7001&addr=host3:7002 (any nodes;
                       the others are discovered); wins over REDIS_URL, and
                       --redis-cluster (or --redis) wins over it. --redis and
                       --redis-cluster do not go together. Without any, everything is
                       in memory and lost on exit. See docs/cluster.md.
  GINOAUTH_SECRET_KEY  key (32 bytes or more, hex or base64) tokens and sessions are
                       keyed with. With Redis, serve needs it or --secret-key-file
                       (head -c 32 /dev/urandom | base64 > key); it is never kept in
                       Redis. Without Redis, unset: a random key per process.
  GINOAUTH_PASSWORD    createuser's password when --password is not given.
  GIN_MODE             gin's mode (release unless set).
`

// isHelp tells whether a first argument asks for the usage text.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// run runs the command in args and returns the exit code: 0, 1 when the
// command failed, 2 for bad arguments.
func run(ctx context.Context, args []string, env *runEnv) int {
	// `demo` alone, or with serve's flags only, serves: `go run ./demo`.
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelp(args[0])) {
		args = append([]string{"serve"}, args...)
	}
	if isHelp(args[0]) {
		fmt.Fprint(env.stdout, usageText)
		return exitOK
	}
	var err error
	switch args[0] {
	case "serve":
		err = env.serve(ctx, args[1:])
	case "routes":
		err = env.printRoutes(args[1:])
	case "rotatekeys":
		err = env.rotateKeys(ctx, args[1:])
	case "createuser", "createapplication", "listapplications", "deleteapplication", "revoketokens":
		err = env.manage(ctx, args)
	default:
		err = &usageError{fmt.Sprintf("unknown command %q; run 'demo help' for the list", args[0])}
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "demo %s: %s\n", args[0], ue.msg)
		return exitUsage
	case errors.Is(err, manage.ErrUsage):
		// manage printed what is wrong.
		return exitUsage
	default:
		fmt.Fprintf(env.stderr, "demo %s: %v\n", args[0], err)
		return exitError
	}
}
