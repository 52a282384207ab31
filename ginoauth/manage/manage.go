// Package manage holds the provider's management commands, DOT's
// createapplication and Django's createuser, with listapplications,
// deleteapplication and revoketokens beside them, for any program to mount
// on its own command line, as the demo does:
//
//	cli := &manage.CLI{Open: openProvider, Flags: addRedisFlag}
//	if err := cli.Run(ctx, os.Args[1:]); err != nil { ... }
package manage

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/exchange"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ErrUsage is returned (wrapped, with the message already printed) when a
// command's arguments are wrong; programs exit with status 2 on it.
var ErrUsage = errors.New("usage error")

// CLI runs management commands against the provider Open returns.
type CLI struct {
	// Open builds the provider a command acts on. It is called after the
	// command's flags are parsed, so it may read flags added by Flags.
	Open func(ctx context.Context) (*ginoauth.Provider, error)
	// Flags, if set, adds the program's own flags (such as --redis) to
	// every command's flag set.
	Flags func(fs *flag.FlagSet)
	// Stdout and Stderr default to os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

// Command describes one management command.
type Command struct {
	Name    string
	Summary string
	run     func(*CLI, context.Context, []string) error
}

// Commands lists the commands Run knows.
func (cli *CLI) Commands() []Command {
	return []Command{
		{"createapplication", "register an OAuth2 application (client) and print its credentials", (*CLI).createApplication},
		{"createuser", "create a user who can log in and grant access", (*CLI).createUser},
		{"listapplications", "list the registered applications, or one user's", (*CLI).listApplications},
		{"deleteapplication", "delete an application and revoke every token issued to it", (*CLI).deleteApplication},
		{"revoketokens", "revoke every token of a user, of an application, or of both", (*CLI).revokeTokens},
	}
}

// Run runs the command args[0] with the arguments after it. Flags and
// positional arguments may come in any order.
func (cli *CLI) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		cli.usage()
		return ErrUsage
	}
	for _, c := range cli.Commands() {
		if c.Name == args[0] {
			return c.run(cli, ctx, args[1:])
		}
	}
	fmt.Fprintf(cli.stderr(), "unknown command %q\n", args[0])
	cli.usage()
	return ErrUsage
}

func (cli *CLI) usage() {
	fmt.Fprintln(cli.stderr(), "commands:")
	for _, c := range cli.Commands() {
		fmt.Fprintf(cli.stderr(), "  %-18s %s\n", c.Name, c.Summary)
	}
}

func (cli *CLI) stdout() io.Writer {
	if cli.Stdout == nil {
		return os.Stdout
	}
	return cli.Stdout
}

func (cli *CLI) stderr() io.Writer {
	if cli.Stderr == nil {
		return os.Stderr
	}
	return cli.Stderr
}

// newFlagSet makes a command's flag set with the program's own flags.
func (cli *CLI) newFlagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(cli.stderr())
	fs.Usage = func() {
		fmt.Fprintf(cli.stderr(), "usage: %s [flags] %s\n", name, args)
		fs.PrintDefaults()
	}
	if cli.Flags != nil {
		cli.Flags(fs)
	}
	return fs
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (cli *CLI) open(ctx context.Context) (*ginoauth.Provider, error) {
	if cli.Open == nil {
		return nil, errors.New("manage: CLI.Open is not set")
	}
	return cli.Open(ctx)
}

func (cli *CLI) createUser(ctx context.Context, args []string) error {
	fs := cli.newFlagSet("createuser", "")
	username := fs.String("username", "", "the username (required)")
	password := fs.String("password", "", "the password (required; or env GINOAUTH_PASSWORD)")
	email := fs.String("email", "", "e-mail address")
	given := fs.String("given-name", "", "given (first) name, the OpenID Connect given_name claim")
	family := fs.String("family-name", "", "family (last) name, the OpenID Connect family_name claim")
	staff := fs.Bool("staff", false, "mark the user as staff")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("GINOAUTH_PASSWORD")
	}
	if len(pos) > 0 || *username == "" || *password == "" {
		fmt.Fprintln(cli.stderr(), "createuser needs --username and --password, and no other arguments")
		fs.Usage()
		return ErrUsage
	}
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	u, err := p.CreateUser(ctx, ginoauth.NewUser{
		Username: *username, Password: *password, Email: *email, FirstName: *given, LastName: *family, IsStaff: *staff,
	})
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("user %q already exists", *username)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cli.stdout(), "User %q created (id %s).\n", u.Username, u.ID)
	return nil
}

// grantTypes maps createapplication's grant_type argument (DOT's choices,
// and the same spelling for package exchange's grants) to grant_type
// values. The provider must know the grant type: convert-token and
// token-exchange need exchange.GrantTypes in its Config.GrantTypes.
var grantTypes = map[string]string{
	"authorization-code": store.GrantAuthorizationCode,
	"password":           store.GrantPassword,
	"client-credentials": store.GrantClientCredentials,
	"device-code":        store.GrantDeviceCode,
	"convert-token":      exchange.GrantConvertToken,
	"token-exchange":     exchange.GrantTokenExchange,
}

// grantTypeNames lists grantTypes' keys for messages.
const grantTypeNames = "authorization-code, password, client-credentials, device-code, convert-token or token-exchange"

// createApplication is DOT's createapplication: it registers an
// application, from the two arguments or from an RFC 7591 client metadata
// document (--metadata), and prints its client_id and (once) its
// client_secret.
func (cli *CLI) createApplication(ctx context.Context, args []string) error {
	fs := cli.newFlagSet("createapplication", createAppUsage+"\n   or: createapplication [flags] --metadata '<JSON>'")
	name := fs.String("name", "", "the application's name")
	redirects := fs.String("redirect-uris", "", "space-separated redirect URIs (needed by authorization-code)")
	skip := fs.Bool("skip-authorization", false, "skip the consent page for this application")
	asJSON := fs.Bool("json", false, `print one line {"client_id": ..., "client_secret": ...} (no client_secret for a client without one)`)
	clientID := fs.String("client-id", "", "use this client id instead of a generated one")
	owner := fs.String("user", "", "username of the application's owner")
	scopes := fs.String("scopes", "", "space-separated scope ceiling (default: every scope)")
	metadata := fs.String("metadata", "", "register from this RFC 7591 client metadata document, a JSON object (redirect_uris, grant_types,\ntoken_endpoint_auth_method, jwks, scope, client_name, ...), instead of the arguments,\n--name, --redirect-uris and --scopes")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	fromDoc := false
	fs.Visit(func(f *flag.Flag) { fromDoc = fromDoc || f.Name == "metadata" })
	var na ginoauth.NewApplication
	if fromDoc {
		na, err = cli.metadataApplication(fs, pos, *metadata)
	} else {
		na, err = cli.argsApplication(fs, pos, *name, *redirects, *scopes)
	}
	if err != nil {
		return err
	}
	na.SkipAuthorization, na.ClientID = *skip, *clientID
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	if !fromDoc {
		if err := checkGrantTypesEnabled(p, na.GrantTypes); err != nil {
			return err
		}
	}
	if *owner != "" {
		if na.UserID, err = userID(ctx, p, *owner); err != nil {
			return err
		}
	}
	app, secret, err := p.CreateApplication(ctx, na)
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("an application with client id %q already exists", *clientID)
	}
	if err != nil {
		return notCreated(err)
	}
	return cli.printNewApplication(app, secret, *asJSON)
}

// createAppUsage is createapplication's positional arguments.
const createAppUsage = "<confidential|public> <authorization-code|password|client-credentials|device-code|convert-token|token-exchange>[,...]"

// argsApplication is the application createapplication's two arguments
// and --name, --redirect-uris and --scopes describe.
func (cli *CLI) argsApplication(fs *flag.FlagSet, pos []string, name, redirects, scopes string) (ginoauth.NewApplication, error) {
	if len(pos) != 2 {
		fmt.Fprintf(cli.stderr(), "createapplication needs two arguments: %s (or --metadata)\n", createAppUsage)
		fs.Usage()
		return ginoauth.NewApplication{}, ErrUsage
	}
	ct, grants, err := cli.parseClientKind(pos[0], pos[1])
	if err != nil {
		return ginoauth.NewApplication{}, err
	}
	allowed, err := scope.Parse(scopes)
	if err != nil {
		fmt.Fprintf(cli.stderr(), "--scopes %q is not a valid scope list\n", scopes)
		return ginoauth.NewApplication{}, ErrUsage
	}
	return ginoauth.NewApplication{
		Name: name, ClientType: ct, GrantTypes: grants, RedirectURIs: strings.Fields(redirects), AllowedScopes: allowed,
	}, nil
}

// metadataApplication is the application createapplication --metadata
// describes. The document replaces the arguments, --name, --redirect-uris
// and --scopes: giving any of them too is a usage error.
func (cli *CLI) metadataApplication(fs *flag.FlagSet, pos []string, doc string) (ginoauth.NewApplication, error) {
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "name" || f.Name == "redirect-uris" || f.Name == "scopes" {
			clash = append(clash, "--"+f.Name)
		}
	})
	if len(pos) > 0 || len(clash) > 0 {
		fmt.Fprintln(cli.stderr(), "createapplication --metadata takes no arguments, nor --name, --redirect-uris or --scopes:\n"+
			"the document has them (client_name, redirect_uris, scope)")
		fs.Usage()
		return ginoauth.NewApplication{}, ErrUsage
	}
	m, err := ginoauth.ParseClientMetadata([]byte(doc))
	if err != nil {
		return ginoauth.NewApplication{}, notCreated(err)
	}
	return m.NewApplication(), nil
}

// notCreated says why CreateApplication or ParseClientMetadata refused an
// application, one problem a line.
func notCreated(err error) error {
	var invalid *ginoauth.InvalidApplicationError
	if errors.As(err, &invalid) {
		return fmt.Errorf("the application was not created:\n  %s", strings.Join(invalid.Problems, "\n  "))
	}
	return err
}

// parseClientKind parses createapplication's two arguments: the client
// type, and a comma-separated list of grantTypes keys, returned as
// grant_type values without repeats. A bad argument is reported on stderr
// and is ErrUsage.
func (cli *CLI) parseClientKind(clientType, grantList string) (store.ClientType, []string, error) {
	ct := store.ClientType(clientType)
	if ct != store.Confidential && ct != store.Public {
		fmt.Fprintf(cli.stderr(), "client type %q: want confidential or public\n", clientType)
		return "", nil, ErrUsage
	}
	var grants []string
	for g := range strings.SplitSeq(grantList, ",") {
		v, ok := grantTypes[g]
		if !ok {
			fmt.Fprintf(cli.stderr(), "grant type %q: want %s\n", g, grantTypeNames)
			return "", nil, ErrUsage
		}
		if !slices.Contains(grants, v) {
			grants = append(grants, v)
		}
	}
	return ct, grants, nil
}

// checkGrantTypesEnabled returns an error naming the first of grants the
// provider does not know.
func checkGrantTypesEnabled(p *ginoauth.Provider, grants []string) error {
	for _, g := range grants {
		if !slices.Contains(p.GrantTypes(), g) {
			return fmt.Errorf("grant type %s is not enabled on this server", g)
		}
	}
	return nil
}

// printNewApplication prints a new application's credentials, as one JSON
// line or as text; the secret is shown only here.
func (cli *CLI) printNewApplication(app *store.Application, secret string, asJSON bool) error {
	out := cli.stdout()
	if asJSON {
		creds := map[string]string{"client_id": app.ClientID}
		if secret != "" {
			creds["client_secret"] = secret
		}
		return json.NewEncoder(out).Encode(creds)
	}
	fmt.Fprintf(out, "New application %q created.\n", app.Name)
	fmt.Fprintf(out, "client_id:     %s\n", app.ClientID)
	if secret != "" {
		fmt.Fprintf(out, "client_secret: %s\n", secret)
		fmt.Fprintln(out, "The secret is shown this once; only its hash is stored.")
	}
	return nil
}

// userID returns the ID of the user with that username.
func userID(ctx context.Context, p *ginoauth.Provider, username string) (string, error) {
	u, err := p.Store().GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("no user %q", username)
	}
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// applicationJSON is an application as listapplications --json prints it:
// everything but the secret's hash.
type applicationJSON struct {
	ClientID          string    `json:"client_id"`
	Name              string    `json:"name"`
	ClientType        string    `json:"client_type"`
	GrantTypes        []string  `json:"grant_types"`
	RedirectURIs      []string  `json:"redirect_uris"`
	AllowedScopes     []string  `json:"allowed_scopes"`
	SkipAuthorization bool      `json:"skip_authorization"`
	UserID            string    `json:"user_id,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	// The rest of the client metadata, the defaults filled in.
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	AccessTokenFormat        string          `json:"access_token_format"`
	// RequirePushedAuthorizationRequests is RFC 9126 section 6's.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests"`
}

func (cli *CLI) listApplications(ctx context.Context, args []string) error {
	fs := cli.newFlagSet("listapplications", "")
	owner := fs.String("user", "", "list only the applications of the user with this username")
	asJSON := fs.Bool("json", false, "print a JSON array of applications (without secret hashes)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintln(cli.stderr(), "listapplications takes no arguments")
		fs.Usage()
		return ErrUsage
	}
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	var id string
	if *owner != "" {
		if id, err = userID(ctx, p, *owner); err != nil {
			return err
		}
	}
	apps, err := p.ListApplications(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]applicationJSON, 0, len(apps))
		for _, a := range apps {
			out = append(out, applicationJSON{
				ClientID: a.ClientID, Name: a.Name, ClientType: string(a.ClientType),
				GrantTypes: nonNil(a.GrantTypes), RedirectURIs: nonNil(a.RedirectURIs), AllowedScopes: nonNil(a.AllowedScopes),
				SkipAuthorization: a.SkipAuthorization, UserID: a.UserID, CreatedAt: a.CreatedAt,
				PostLogoutRedirectURIs: nonNil(a.PostLogoutRedirectURIs), TokenEndpointAuthMethod: a.AuthMethod(),
				JWKS: a.JWKS, JWKSURI: a.JWKSURI, IDTokenSignedResponseAlg: a.IDTokenAlg(), AccessTokenFormat: p.AccessTokenFormat(a),
				RequirePushedAuthorizationRequests: a.RequirePushedAuthorizationRequests,
			})
		}
		return json.NewEncoder(cli.stdout()).Encode(out)
	}
	if len(apps) == 0 {
		fmt.Fprintln(cli.stdout(), "No applications.")
		return nil
	}
	tw := tabwriter.NewWriter(cli.stdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tGRANT TYPES\tOWNER")
	for _, a := range apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ClientID, dash(a.Name), a.ClientType, strings.Join(a.GrantTypes, ","), dash(a.UserID))
	}
	return tw.Flush()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' ' // keep one application a line
		}
		return r
	}, s)
}

func (cli *CLI) deleteApplication(ctx context.Context, args []string) error {
	fs := cli.newFlagSet("deleteapplication", "<client_id>")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "" {
		fmt.Fprintln(cli.stderr(), "deleteapplication needs one argument: the client id")
		fs.Usage()
		return ErrUsage
	}
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	err = p.DeleteApplication(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no application with client id %q", pos[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cli.stdout(), "Application %q deleted; every token issued to it is revoked.\n", pos[0])
	return nil
}

func (cli *CLI) revokeTokens(ctx context.Context, args []string) error {
	fs := cli.newFlagSet("revoketokens", "")
	owner := fs.String("user", "", "revoke the tokens of the user with this username")
	clientID := fs.String("client-id", "", "revoke the tokens issued to this application")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *owner == "" && *clientID == "" {
		fmt.Fprintln(cli.stderr(), "revoketokens needs --user, --client-id or both (the user's tokens for that application), and no other arguments")
		fs.Usage()
		return ErrUsage
	}
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	f := store.GrantFilter{ClientID: *clientID}
	if *owner != "" {
		if f.UserID, err = userID(ctx, p, *owner); err != nil {
			return err
		}
	}
	n, err := p.RevokeGrants(ctx, f)
	if err != nil {
		if n > 0 {
			fmt.Fprintf(cli.stdout(), "Revoked %s before the error.\n", grants(n))
		}
		return err
	}
	if f.UserID == "" {
		// The application's tokens are revoked at once (a new generation),
		// not grant by grant: there is no count.
		if n == 0 {
			fmt.Fprintf(cli.stdout(), "No application %q: nothing revoked.\n", f.ClientID)
		} else {
			fmt.Fprintf(cli.stdout(), "Revoked every token of application %q.\n", f.ClientID)
		}
		return nil
	}
	fmt.Fprintf(cli.stdout(), "Revoked %s.\n", grants(n))
	return nil
}

// grants says "1 grant" or "n grants".
func grants(n int) string {
	if n == 1 {
		return "1 grant"
	}
	return fmt.Sprintf("%d grants", n)
}
