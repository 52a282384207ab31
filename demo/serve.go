package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/manage"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// maxSnippetCodeLimit bounds --snippet-code-limit: 16 MiB.
const maxSnippetCodeLimit = 16 << 20

// shutdownTimeout bounds how long serve waits for requests in flight after
// SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

// serveConfig is what serve's flags say.
type serveConfig struct {
	addr string
	// redisFlags are --redis and --redis-cluster; redis is the Redis
	// they, or the environment, name (redisFlags.target).
	redisFlags redisFlags
	redis      redisTarget
	logLevel   string
	// pipelines is --redis-pipelines (0: the store's default).
	pipelines       int
	bench           bool
	corsOrigins     []string
	trustedProxies  []string
	secureCookies   bool
	tokenRateLimit  int
	validationCache bool
	tokenFormat     string
	tokenAlg        string
	dpopNonces      bool
	issuer          string
	// resource is --resource ("": the issuer, else the base URL, with a
	// final slash); resourcesAlso --resource-also.
	resource        string
	resourcesAlso   []string
	site            string
	socialURL       string
	socialClientIDs []string
	secretKeyFile   string
	// metricsAddr is --metrics-addr ("": no metrics); trace is --trace.
	metricsAddr string
	trace       bool
	// snippetWriteRate is --snippet-write-rate, snippetCodeLimit
	// --snippet-code-limit.
	snippetWriteRate rate
	snippetCodeLimit int
}

// serveFlags is serve's flag set, parsing into cfg.
func (e *runEnv) serveFlags(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&cfg.addr, "addr", ":8000", "address to listen on, host:port")
	cfg.redisFlags.define(fs)
	fs.StringVar(&cfg.logLevel, "log-level", "info", "least level logged: debug, info, warn or error (info logs every request)")
	fs.IntVar(&cfg.pipelines, "redis-pipelines", 0, "with Redis: how many token and application lookups may be on the wire before concurrent ones share a pipeline (0: the store's default; -1: never share, each lookup alone)")
	fs.BoolVar(&cfg.bench, "bench", false, "also serve /bench/open (no auth) and /bench/protected and /bench/snippets/ (no auth) for the load runs of docs/benchmarks.md")
	fs.Func("cors-origin", "an origin (scheme://host[:port]) browser clients may call the token endpoints and the API from, such as http://localhost:3000; repeatable", func(v string) error {
		if err := checkOrigin(v); err != nil {
			return err
		}
		cfg.corsOrigins = append(cfg.corsOrigins, v)
		return nil
	})
	fs.Func("trusted-proxy", "the `address` (IP or CIDR) of a proxy or load balancer in front of the demo, whose X-Forwarded-For header then names the client; repeatable. "+
		"The per-address budgets (token endpoint, password attempts, login) count that client; without it they count the peer, and X-Forwarded-For is ignored", func(v string) error {
		if _, _, err := net.ParseCIDR(v); err != nil && net.ParseIP(v) == nil {
			return fmt.Errorf("%q is not an IP address or CIDR block", v)
		}
		cfg.trustedProxies = append(cfg.trustedProxies, v)
		return nil
	})
	fs.BoolVar(&cfg.secureCookies, "secure-cookies", false, "mark the session cookies Secure on every request (behind a TLS-terminating proxy); without it they are Secure on TLS requests only")
	fs.IntVar(&cfg.tokenRateLimit, "token-rate-limit", defaultTokenRateLimit,
		"allow `N` token requests a minute to one client and to one source address, then answer 429 with Retry-After; 0: no limit. "+
			"The default, 10 a second, is far more than a person or a well-behaved client needs (an access token lasts 10 hours) "+
			"and slows down guessing client secrets and passwords; raise it for a busy client or many users behind one address, 0 for load runs")
	cfg.snippetWriteRate = rate{N: defaultSnippetWrites, Per: defaultSnippetWritePeriod}
	fs.Func("snippet-write-rate", "allow each user `N/period` snippet writes (POST, PUT, PATCH, DELETE; period: second, minute, hour or day, as DRF's throttle rates), "+
		"then answer 429 with Retry-After; counted in Redis across instances; 0: no limit (default "+defaultSnippetWriteRate+")", func(v string) error {
		r, err := parseRate(v)
		cfg.snippetWriteRate = r
		return err
	})
	fs.IntVar(&cfg.snippetCodeLimit, "snippet-code-limit", snippets.DefaultMaxCodeBytes, "the most `bytes` a snippet's code may have (UTF-8); more is 400")
	fs.BoolVar(&cfg.dpopNonces, "dpop-nonces", false, "DPoP proofs (RFC 9449) must carry a server nonce, given with use_dpop_nonce and a DPoP-Nonce header (docs/dpop.md)")
	fs.BoolVar(&cfg.validationCache, "validation-cache", true, "with Redis: answer a protected request from an in-process cache of validated tokens, kept in step with revocations on every instance through Redis pub/sub (docs/design.md); --validation-cache=false reads Redis on every request")
	fs.StringVar(&cfg.tokenFormat, "access-token-format", "opaque", "the format of access tokens for applications that name none (their access_token_format): opaque, or jwt for RFC 9068 JWT access tokens signed with the provider's keys (docs/jwt-access-tokens.md)")
	fs.StringVar(&cfg.tokenAlg, "access-token-alg", "RS256", "the algorithm that signs JWT access tokens: RS256 or ES256")
	fs.StringVar(&cfg.issuer, "issuer", "", "the issuer identifier (RFC 8414), an absolute http or https `URL` without query or fragment, such as https://auth.example.com, "+
		"in the metadata and as the iss of authorization answers (RFC 9207); default: the scheme and host each request came to (its Host header)")
	fs.StringVar(&cfg.resource, "resource", "", "the API's resource identifier (RFC 8707, RFC 9728), an absolute `URL`: the audience of tokens issued without a resource parameter, "+
		"and the one the snippets API requires (a token for another resource is 401 invalid_token). Default: the --issuer, else the URL the server listens at, with a final slash, such as http://localhost:8000/")
	fs.Func("resource-also", "another resource identifier (an absolute `URL`) clients may ask tokens for with the resource parameter, for APIs elsewhere that trust this server; repeatable", func(v string) error {
		cfg.resourcesAlso = append(cfg.resourcesAlso, v)
		return nil
	})
	fs.StringVar(&cfg.site, "site", "", `"social" to run as the fake social site of docs/social-login.md (Redis keys under "`+socialPrefix+`")`)
	fs.StringVar(&cfg.socialURL, "social-url", "", "base URL of a social site (demo serve --site social) whose tokens the API converts, such as http://localhost:8001")
	fs.Func("social-client-id", "with --social-url: a client `ID` of the social site whose tokens the API converts; repeatable. Without it the API converts no token "+
		"(any application a user once authorized at the social site could otherwise sign in here as the user)", func(v string) error {
		if v == "" {
			return errors.New("want a client ID")
		}
		cfg.socialClientIDs = append(cfg.socialClientIDs, v)
		return nil
	})
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://`ADDR`/metrics, on a listener of its own (host:port, such as 127.0.0.1:9100; default: no metrics; docs/metrics.md)")
	fs.BoolVar(&cfg.trace, "trace", false, "print OpenTelemetry spans (the token endpoint, Redis commands) to stderr as JSON")
	fs.StringVar(&cfg.secretKeyFile, "secret-key-file", "", "file holding the secret key (hex or base64, 32 bytes or more; make one with: head -c 32 /dev/urandom | base64 > key) "+
		"when "+envSecretKey+" is unset; with Redis, one of them is required (the key is never kept in Redis); without Redis, neither: a random key")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: demo serve [flags]")
		fs.PrintDefaults()
	}
	return fs
}

// parseServeArgs parses and checks serve's arguments. It returns nil and
// no error for --help, which the flag set answered.
func (e *runEnv) parseServeArgs(args []string) (*serveConfig, error) {
	cfg := &serveConfig{}
	fs := e.serveFlags(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, manage.ErrUsage // flag printed the error and the usage
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("unexpected argument %q (serve takes only flags; 'demo serve --help' lists them)", fs.Arg(0))}
	}
	target, err := cfg.redisFlags.target(e.getenv)
	if err != nil {
		return nil, err
	}
	cfg.redis = target
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// check refuses the flag values that flag itself cannot.
func (cfg *serveConfig) check() error {
	if cfg.issuer != "" {
		// Checked here, not by flag, which would echo a password in it.
		if err := checkIssuer(cfg.issuer); err != nil {
			return &usageError{"--issuer: " + err.Error()}
		}
	}
	if cfg.tokenRateLimit < 0 {
		return &usageError{fmt.Sprintf("--token-rate-limit %d: want a number of requests per minute, or 0 for no limit", cfg.tokenRateLimit)}
	}
	if cfg.snippetCodeLimit < 1 || cfg.snippetCodeLimit > maxSnippetCodeLimit {
		return &usageError{fmt.Sprintf("--snippet-code-limit %d: want a number of bytes from 1 to %d", cfg.snippetCodeLimit, maxSnippetCodeLimit)}
	}
	if cfg.site != "" && cfg.site != siteSocial {
		return &usageError{fmt.Sprintf("--site %q: the only site is %q", cfg.site, siteSocial)}
	}
	if cfg.site == siteSocial && cfg.socialURL != "" {
		return &usageError{"--site social and --social-url do not go together"}
	}
	if len(cfg.socialClientIDs) > 0 && cfg.socialURL == "" {
		return &usageError{"--social-client-id needs --social-url (the social site whose clients it names)"}
	}
	if _, err := cfg.level(); err != nil {
		return err
	}
	return nil
}

// resourceID is the API's resource identifier: --resource, or the
// issuer, or base (the URL the server listens at), with a final slash.
func (cfg *serveConfig) resourceID(base string) string {
	switch {
	case cfg.resource != "":
		return cfg.resource
	case cfg.issuer != "":
		return strings.TrimRight(cfg.issuer, "/") + "/"
	}
	return base + "/"
}

// level is --log-level as a slog level.
func (cfg *serveConfig) level() (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return 0, &usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", cfg.logLevel)}
	}
	return level, nil
}

// appOptions are the options of the app serve runs on b.
func (cfg *serveConfig) appOptions(b *backend, log *slog.Logger, obs *observability) options {
	tokenLimit := cfg.tokenRateLimit
	if tokenLimit == 0 {
		tokenLimit = -1 // options: negative is no limit
	}
	return options{
		Store: b.store, Snippets: b.snippets, SecretKey: b.secretKey, Logger: log, BenchRoutes: cfg.bench,
		CORSOrigins: cfg.corsOrigins, TrustedProxies: cfg.trustedProxies, SecureCookies: cfg.secureCookies, TokenRateLimit: tokenLimit, Issuer: cfg.issuer,
		SocialURL: cfg.socialURL, SocialClientIDs: cfg.socialClientIDs, Observer: obs.observer, TracerProvider: obs.tracer,
		SnippetWriteRate: cfg.snippetWriteRate, SnippetCodeLimit: cfg.snippetCodeLimit,
		Resources:         cfg.resourcesAlso,
		ValidationCache:   cfg.validationCache && b.redis != nil, // the embedded store needs none
		AccessTokenFormat: cfg.tokenFormat, AccessTokenAlg: cfg.tokenAlg,
		DPoPNonces: cfg.dpopNonces,
	}
}

// serve is `demo serve`: it runs the server until SIGINT or SIGTERM (or
// ctx ends), then shuts down gracefully.
func (e *runEnv) serve(ctx context.Context, args []string) error {
	cfg, err := e.parseServeArgs(args)
	if cfg == nil {
		return err // nil for --help
	}
	if cfg.site == siteSocial {
		e = e.socialSite()
	}
	level, _ := cfg.level() // checked
	e.setLogLevel(level)
	log := e.log()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.pipelines != 0 {
		e.storeOpts = append(e.storeOpts, redisstore.WithPipelines(cfg.pipelines))
	}
	ke := *e
	ke.secretKeyFile = cfg.secretKeyFile
	b, err := ke.openBackend(ctx, cfg.redis)
	if err != nil {
		return err
	}
	defer b.close()
	obs, err := e.startObservability(cfg, b, log)
	if err != nil {
		return err
	}
	defer func() { _ = obs.stop(ctx) }()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.addr, err)
	}
	base := baseURL(ln.Addr())
	opts := cfg.appOptions(b, log, obs)
	opts.Resource = cfg.resourceID(base)
	a, err := newApp(opts)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer func() { _ = a.provider.Close() }() // the validation cache's subscription
	if err := e.welcome(ctx, a, b, cfg, base); err != nil {
		_ = ln.Close()
		return err
	}
	log.Info("serving", "url", base, "store", b.where)
	warnIssuer(log, ln.Addr(), cfg.issuer)
	return e.runServer(ctx, stop, newHTTPServer(a.handler, log), ln, base, log)
}

// welcome sets up what the listening server needs and tells the user
// about it on stdout: the demo client, which needs the URL the server
// listens on; on the embedded store, the demo user and application; the
// social site trusted and the CORS origins allowed.
func (e *runEnv) welcome(ctx context.Context, a *app, b *backend, cfg *serveConfig, base string) error {
	client, err := a.setupDemoClient(ctx, base, b.redis, e.prefix)
	if err != nil {
		return err
	}
	if b.embedded {
		if err := bootstrap(ctx, a, base, e.stdout); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "ginoauth demo on %s, keeping everything in %s.\n"+
			"Create a user and an application with 'demo createuser' and 'demo createapplication'\n"+
			"(%s); see docs/getting-started.md.\n\n", base, b.where, sameRedisHint(b.cluster))
	}
	printDemoClient(e.stdout, base, client, b.embedded)
	if cfg.socialURL != "" {
		printSocial(e.stdout, cfg.socialURL, cfg.socialClientIDs)
	}
	if len(cfg.trustedProxies) > 0 {
		fmt.Fprintf(e.stdout, "X-Forwarded-For names the client when the peer is %s.\n", strings.Join(cfg.trustedProxies, ", "))
	}
	if len(cfg.corsOrigins) > 0 {
		fmt.Fprintf(e.stdout, "CORS: browser clients may call the token endpoints and the API from %s.\n", strings.Join(cfg.corsOrigins, ", "))
	}
	return nil
}

// newHTTPServer is the HTTP server of serve, with timeouts, logging its
// own errors as warnings.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// runServer serves srv on ln until it fails or ctx ends, then stops
// listening for signals (a second one kills at once) and shuts down
// gracefully, waiting shutdownTimeout at most for requests in flight.
func (e *runEnv) runServer(ctx context.Context, stopSignals func(), srv *http.Server, ln net.Listener, base string, log *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if e.serving != nil {
		e.serving(base)
	}

	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	stopSignals()
	log.Info("shutting down", "timeout", shutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// warnIssuer warns when the server listens where other machines may reach
// it and has no --issuer: the issuer of its metadata and of the iss of its
// authorization answers (RFC 9207) then comes from each request's Host
// header, which a client cannot rely on.
func warnIssuer(log *slog.Logger, addr net.Addr, issuer string) {
	if issuer != "" {
		return
	}
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return
	}
	log.Warn("listening on a non-loopback address without --issuer: the issuer (metadata, and the iss of authorization answers, RFC 9207) "+
		"is taken from each request's Host header; set --issuer to the URL clients reach this server at, such as --issuer https://auth.example.com",
		"addr", addr.String())
}

// checkOrigin validates a --cors-origin value: an http or https origin,
// with no path, query or fragment.
func checkOrigin(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin; write it as scheme://host[:port], such as http://localhost:3000", v)
	}
	if u.Path == "/" {
		return fmt.Errorf("%q: an origin has no path; drop the trailing slash", v)
	}
	return nil
}

// checkIssuer validates an --issuer value: an absolute http or https URL
// with a host and no user, query or fragment (RFC 8414 section 2 asks for
// https; the demo allows http for a server on this machine). An error
// quotes the value only when it cannot hold a password.
func checkIssuer(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL; write it as https://host[:port][/path], such as https://auth.example.com")
	}
	if u.User != nil {
		return errors.New("an issuer has no user name or password; write it as https://host[:port][/path]")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute http or https URL; write it as https://host[:port][/path], such as https://auth.example.com", v)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(v, "#") {
		return fmt.Errorf("%q: an issuer has no query or fragment", v)
	}
	return nil
}

// printDemoClient prints the demo client's application and where to try
// it (its client_id only: a public client has no secret).
func printDemoClient(w io.Writer, base string, app *store.Application, embedded bool) {
	who := "a user made with 'demo createuser'"
	if embedded {
		who = "the demo user above"
	}
	fmt.Fprintf(w, `Demo client:      %[1]q (public; grant: authorization_code with PKCE S256)
  client_id:      %[2]s
  redirect_uri:   %[3]s
  Open %[4]s in a browser and sign in as %[5]s (docs/tutorial-code-flow.md).

`, app.Name, app.ClientID, base+clientCallbackPath, base+clientPath, who)
}

// baseURL is the URL a client on this machine reaches addr at.
func baseURL(addr net.Addr) string {
	host, port := "localhost", ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if !ta.IP.IsUnspecified() && ta.IP != nil {
			host = ta.IP.String()
		}
	} else if h, p, err := net.SplitHostPort(addr.String()); err == nil {
		host, port = h, p
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Demo user and application created by serve on the embedded store.
const (
	demoUsername = "demo"
	demoAppName  = "demo"
)

// bootstrap creates the demo user, a staff user with a random password
// (staff, so that it can get the register scope and try dynamic
// registration, docs/dynamic-registration.md), and a
// confidential application allowed the password and client_credentials
// grants, and prints their credentials with curl lines to try them: the one
// time the demo prints secrets, as the store forgets them on exit anyway.
func bootstrap(ctx context.Context, a *app, base string, w io.Writer) error {
	pw := make([]byte, 15)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	password := base64.RawURLEncoding.EncodeToString(pw)
	if _, err := a.provider.CreateUser(ctx, ginoauth.NewUser{
		Username: demoUsername, Password: password,
		Email: "demo@example.com", FirstName: "Demo", LastName: "User", IsStaff: true,
	}); err != nil {
		return fmt.Errorf("creating the demo user: %w", err)
	}
	app, secret, err := a.provider.CreateApplication(ctx, ginoauth.NewApplication{
		Name:       demoAppName,
		ClientType: store.Confidential,
		GrantTypes: append([]string{store.GrantPassword, store.GrantClientCredentials}, a.demoGrants()...),
	})
	if err != nil {
		return fmt.Errorf("creating the demo application: %w", err)
	}
	fmt.Fprintf(w, `ginoauth demo on %[1]s, with an embedded store: everything is forgotten on exit.

Demo user:        %[2]s / %[3]s (staff: may get scope register, to register clients at %[1]s/o/register/)
Demo application: %[4]q (confidential; grants: %[7]s)
  client_id:      %[5]s
  client_secret:  %[6]s

Try it (bash):
  export BASE=%[1]s CLIENT_ID=%[5]s CLIENT_SECRET=%[6]s USER_NAME=%[2]s PASSWORD=%[3]s
  # get a token with the password grant
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=password --data-urlencode "username=$USER_NAME" --data-urlencode "password=$PASSWORD" $BASE/o/token/
  # keep the access token in $TOKEN
  export TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=password --data-urlencode "username=$USER_NAME" --data-urlencode "password=$PASSWORD" $BASE/o/token/ | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  # list the snippets
  curl -s -H "Authorization: Bearer $TOKEN" $BASE/snippets/
  # post a snippet
  curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{"title":"hello","code":"print(\"hello, world\")"}' $BASE/snippets/

`, base, demoUsername, password, app.Name, app.ClientID, secret, strings.Join(app.GrantTypes, ", "))
	return nil
}
