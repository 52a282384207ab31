package main

import (
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/manage"
)

// demoCommands are the demo's commands: serve, routes and help, and the
// management commands of package manage.
func demoCommands() []string {
	cmds := []string{"serve", "routes", "help", "rotatekeys"}
	for _, c := range (&manage.CLI{}).Commands() {
		cmds = append(cmds, c.Name)
	}
	return cmds
}

// flagDefault is a line of flag.PrintDefaults: "  -name ...".
var flagDefault = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)\b`)

// commandFlags are the flags of each command, as its flag set lists them
// (flag.PrintDefaults) for `demo COMMAND -h`: the flags the code really
// defines.
func commandFlags(t *testing.T) map[string][]string {
	t.Helper()
	flags := map[string][]string{}
	for _, cmd := range demoCommands() {
		r := runCmd(t, nil, cmd, "-h")
		names := []string{}
		for _, m := range flagDefault.FindAllStringSubmatch(r.stderr, -1) {
			names = append(names, m[1])
		}
		slices.Sort(names)
		flags[cmd] = names
	}
	if len(flags["serve"]) == 0 || len(flags["createuser"]) == 0 {
		t.Fatalf("no flags found in 'demo serve -h' or 'demo createuser -h': %v", flags)
	}
	return flags
}

// commandMention is "demo COMMAND" ("demo [serve]" for the default one).
var commandMention = regexp.MustCompile(`\bdemo \[?([a-z]+)\]?`)

// flagMention is a flag in a synopsis or a description.
var flagMention = regexp.MustCompile(`(?:^|[\s\[(|])--([a-z][a-z0-9-]*)`)

// mentionedFlags returns the flags text names, sorted, without duplicates
// and without --help, which every command takes.
func mentionedFlags(text string) []string {
	set := map[string]bool{}
	for _, m := range flagMention.FindAllStringSubmatch(text, -1) {
		if m[1] != "help" {
			set[m[1]] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// synopses splits a usage block into the entries of its commands: an
// entry starts at a line whose first word is "demo" and runs until the
// next one. It fails the test if a command has two entries.
func synopses(t *testing.T, where, block string) map[string]string {
	t.Helper()
	entries := map[string]string{}
	cmd := ""
	for line := range strings.Lines(block) {
		if m := commandMention.FindStringSubmatchIndex(line); m != nil && strings.TrimSpace(line[:m[0]]) == "" {
			cmd = line[m[2]:m[3]]
			if _, dup := entries[cmd]; dup {
				t.Errorf("%s: two entries for demo %s", where, cmd)
			}
		}
		if cmd != "" {
			entries[cmd] += line
		}
	}
	return entries
}

// checkSynopses checks that block has an entry for every command, naming
// exactly the flags it takes.
func checkSynopses(t *testing.T, where, block string, flags map[string][]string) {
	t.Helper()
	entries := synopses(t, where, block)
	for _, cmd := range demoCommands() {
		entry, ok := entries[cmd]
		if !ok {
			t.Errorf("%s: no entry for demo %s", where, cmd)
			continue
		}
		if got, want := mentionedFlags(entry), flags[cmd]; !slices.Equal(got, want) {
			t.Errorf("%s: demo %s names flags %v, want %v (its flag set); entry:\n%s", where, cmd, got, want, entry)
		}
	}
	for cmd := range entries {
		if !slices.Contains(demoCommands(), cmd) {
			t.Errorf("%s: an entry for demo %s, which is no command", where, cmd)
		}
	}
}

// TestHelpNamesEveryFlag: the Usage section of `demo help` and the
// synopsis of the package documentation (main.go) each name, for every
// command, exactly the flags of its flag set; and wherever else the help
// shows a command line, it uses only flags that command has.
func TestHelpNamesEveryFlag(t *testing.T) {
	t.Parallel()
	flags := commandFlags(t)

	help := runCmd(t, nil, "help").stdout
	_, usage, ok := strings.Cut(help, "\nUsage:\n")
	usage, _, _ = strings.Cut(usage, "\n\n")
	if !ok {
		t.Fatalf("demo help has no Usage section:\n%s", help)
	}
	checkSynopses(t, "demo help, Usage", usage, flags)

	// Every other command line of the help: "demo CMD flags ..." up to
	// the next command on the line.
	for line := range strings.Lines(help) {
		ms := commandMention.FindAllStringSubmatchIndex(line, -1)
		for i, m := range ms {
			end := len(line)
			if i+1 < len(ms) {
				end = ms[i+1][0]
			}
			cmd := line[m[2]:m[3]]
			for _, f := range mentionedFlags(line[m[1]:end]) {
				if !slices.Contains(flags[cmd], f) {
					t.Errorf("demo help: demo %s has no flag --%s: %q", cmd, f, strings.TrimSpace(line))
				}
			}
		}
	}

	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	// The synopsis: the code block of the doc comment (tab-indented lines).
	var doc strings.Builder
	for line := range strings.Lines(f.Doc.Text()) {
		if strings.HasPrefix(line, "\t") {
			doc.WriteString(line)
		}
	}
	checkSynopses(t, "main.go package doc", doc.String(), flags)
}
