// render: a small stand-in for `helm template`, for machines without a helm binary.
//
// It loads a chart directory the way Helm 3 does (Chart.yaml, values.yaml, templates/, the other
// files as .Files, .helmignore), coalesces the values files given with -f over the chart's
// values.yaml (a null removes a key, as in Helm), turns every number into a float64 (Helm reads
// values through JSON), and renders each template with text/template, sprig and the functions
// Helm adds (include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup). Then it splits
// the output into YAML documents and prints one JSON object:
//
//	{"values": <coalesced values>, "notes": "...", "manifests": [{"source": ..., "object": ...}]}
//
// With -values-only it prints only the coalesced values, which the caller validates against
// values.schema.json before rendering, as Helm does. With -yaml-to-json it only converts the YAML
// document on stdin to JSON (validate.mjs reads the rendered server config file with it). Validation of the rendered objects against
// the Kubernetes schemas is the caller's too (validate.mjs).
//
// Build (GOPATH mode, Debian's packages): GO111MODULE=off GOPATH=/usr/share/gocode go build
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// files is Helm's .Files: chart files outside templates/, by slash path.
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }
func (f files) Glob(pattern string) files {
	re := globRegexp(pattern)
	out := files{}
	for name, data := range f {
		if re.MatchString(name) {
			out[name] = data
		}
	}
	return out
}
func (f files) Lines(name string) []string {
	s := strings.TrimSuffix(string(f[name]), "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// globRegexp translates a gobwas/glob pattern with '/' as separator, as Helm compiles it:
// '**' crosses directories, '*' and '?' do not, {a,b} alternates, [..] is a class.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '{':
			b.WriteString("(?:")
		case c == '}':
			b.WriteString(")")
		case c == ',':
			b.WriteString("|")
		case c == '[' || c == ']':
			b.WriteByte(c)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

// jsonish converts decoded YAML into what Helm's values are after their trip through JSON:
// string-keyed maps and float64 numbers.
func jsonish(v interface{}) (interface{}, error) {
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(b, &out)
	return out, err
}

func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := map[string]interface{}{}
		for k, x := range t {
			m[k] = normalize(x)
		}
		return m
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}

func readValues(file string) map[string]interface{} {
	data, err := os.ReadFile(file)
	if err != nil {
		die("%v", err)
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		die("%s: %v", file, err)
	}
	if raw == nil {
		return map[string]interface{}{}
	}
	v, err := jsonish(raw)
	if err != nil {
		die("%s: %v", file, err)
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		die("%s: values must be a map", file)
	}
	return m
}

// coalesce lays src over dst like Helm: maps merge, a null in src removes the key.
func coalesce(dst, src map[string]interface{}) {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			coalesce(dm, sm)
		} else {
			dst[k] = sv
		}
	}
}

// toYAML renders like Helm's toYaml (sigs.k8s.io/yaml): through JSON, integers stay integers,
// keys sorted, two-space indent, no trailing newline.
func toYAML(v interface{}) string {
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x interface{}
	if err := dec.Decode(&x); err != nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(numbers(x)); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func numbers(v interface{}) interface{} {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]interface{}:
		for k, x := range t {
			t[k] = numbers(x)
		}
	case []interface{}:
		for i, x := range t {
			t[i] = numbers(x)
		}
	}
	return v
}

func loadChart(dir string) (meta map[string]interface{}, chartValues map[string]interface{}, templates map[string]string, other files) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		die("%v", err)
	}
	var raw map[string]interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		die("Chart.yaml: %v", err)
	}
	// .Chart exposes Helm's Metadata struct: capitalised field names.
	meta = map[string]interface{}{}
	for k, v := range raw {
		meta[strings.ToUpper(k[:1])+k[1:]] = v
	}
	if meta["Name"] == nil || meta["Version"] == nil {
		die("Chart.yaml needs name and version")
	}
	chartValues = readValues(filepath.Join(dir, "values.yaml"))

	var ignore []string
	if data, err := os.ReadFile(filepath.Join(dir, ".helmignore")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				ignore = append(ignore, line)
			}
		}
	}
	ignored := func(rel string, isDir bool) bool {
		for _, p := range ignore {
			dirOnly := strings.HasSuffix(p, "/")
			p = strings.TrimSuffix(p, "/")
			if dirOnly && !isDir {
				continue
			}
			if ok, _ := path.Match(p, rel); ok {
				return true
			}
			if ok, _ := path.Match(p, path.Base(rel)); ok {
				return true
			}
		}
		return false
	}

	templates = map[string]string{}
	other = files{}
	name := fmt.Sprint(meta["Name"])
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				die("subcharts are not supported by this renderer")
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" || rel == "Chart.lock":
		case strings.HasPrefix(rel, "templates/"):
			templates[name+"/"+rel] = string(data)
		default:
			other[rel] = data
		}
		return nil
	})
	if err != nil {
		die("%v", err)
	}
	return
}

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	release := flag.String("name", "arbiter", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "1.29.0", "Capabilities.KubeVersion")
	manifestOut := flag.String("manifest-out", "", "also write the rendered manifests as YAML here")
	valuesOnly := flag.Bool("values-only", false, "print only the coalesced values, as JSON (for the schema check that precedes rendering)")
	yamlToJSON := flag.Bool("yaml-to-json", false, "convert the YAML document on stdin to JSON and exit")
	var valueFiles, apis stringList
	flag.Var(&valueFiles, "f", "values file (repeatable; later ones win)")
	flag.Var(&apis, "api-versions", "extra Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *yamlToJSON {
		var raw interface{}
		dec := yaml.NewDecoder(os.Stdin)
		if err := dec.Decode(&raw); err != nil {
			die("stdin: %v", err)
		}
		v, err := jsonish(raw)
		if err != nil {
			die("stdin: %v", err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
			die("%v", err)
		}
		return
	}
	if *chartDir == "" {
		die("-chart is required")
	}

	meta, values, templates, chartFiles := loadChart(*chartDir)
	for _, f := range valueFiles {
		coalesce(values, readValues(f))
	}
	if *valuesOnly {
		if err := json.NewEncoder(os.Stdout).Encode(values); err != nil {
			die("%v", err)
		}
		return
	}

	kv := strings.SplitN(*kubeVersion, ".", 3)
	if len(kv) < 2 {
		die("bad -kube-version %q", *kubeVersion)
	}
	versions := apiVersions(append([]string{"v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1"}, apis...))
	top := map[string]interface{}{
		"Values": values,
		"Chart":  meta,
		"Files":  chartFiles,
		"Release": map[string]interface{}{
			"Name": *release, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v" + *kubeVersion, "GitVersion": "v" + *kubeVersion, "Major": kv[0], "Minor": kv[1],
			},
			"APIVersions": versions,
		},
	}

	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	root := template.New("chart")
	var includeDepth int
	funcs["toYaml"] = toYAML
	funcs["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(normalize(v))
		if err != nil {
			return ""
		}
		return string(b)
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		var raw interface{}
		if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		v, _ := jsonish(raw)
		m, _ := v.(map[string]interface{})
		if m == nil {
			m = map[string]interface{}{}
		}
		return m
	}
	funcs["fromYamlArray"] = func(s string) []interface{} {
		var raw interface{}
		if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
			return []interface{}{err.Error()}
		}
		v, _ := jsonish(raw)
		a, _ := v.([]interface{})
		return a
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, fmt.Errorf(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, fmt.Errorf(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	root.Funcs(funcs).Option("missingkey=zero")

	names := make([]string, 0, len(templates))
	for name := range templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := root.New(name).Parse(templates[name]); err != nil {
			die("parse error: %v", err)
		}
	}

	type manifest struct {
		Source string      `json:"source"`
		Object interface{} `json:"object"`
	}
	result := struct {
		Values    map[string]interface{} `json:"values"`
		Notes     string                 `json:"notes"`
		Manifests []manifest             `json:"manifests"`
	}{Values: values, Manifests: []manifest{}}
	var text strings.Builder
	docSep := regexp.MustCompile(`(?m)^---[ \t]*$`)
	chartName := fmt.Sprint(meta["Name"])
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			die("%v", err)
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			result.Notes = out
			continue
		}
		for _, doc := range docSep.Split(out, -1) {
			var obj interface{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				die("%s: the rendered YAML does not parse: %v\n%s", name, err, doc)
			}
			if obj == nil {
				continue
			}
			if _, ok := obj.(map[string]interface{}); !ok {
				die("%s: a rendered document is not a mapping:\n%s", name, doc)
			}
			result.Manifests = append(result.Manifests, manifest{Source: name, Object: normalize(obj)})
			fmt.Fprintf(&text, "---\n# Source: %s\n%s\n", name, strings.Trim(doc, "\n"))
		}
	}
	if *manifestOut != "" {
		if err := os.WriteFile(*manifestOut, []byte(text.String()), 0o644); err != nil {
			die("%v", err)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(result); err != nil {
		die("%v", err)
	}
}
