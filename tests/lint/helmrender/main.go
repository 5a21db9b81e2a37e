// helmrender renders a Helm chart the way `helm template` does, for machines without helm: Go
// text/template with the sprig function library (the engine Helm uses), plus the Helm built-ins
// poolwatch's chart needs (include, tpl, toYaml, fromYaml, toJson, required, lookup, .Files.Get,
// .Capabilities, .Release, .Chart, .Template). Values merge like Helm's: values.yaml, then each
// -f file in order, maps merged deeply, a null deleting a key.
//
// It is a test tool (tests/lint/helm_chart.sh), not a Helm replacement: no subcharts, no hooks
// ordering, no --set. Where `helm` is on the PATH the same script also runs the real thing.
//
// Usage: helmrender -chart DIR [-f values.yaml]... [-kube-version 1.29.0] [-release NAME]
//
//	[-namespace NS] [-extra-template FILE]... [-values-json OUT] [-notes]
//
// Prints the rendered manifests (`---` + `# Source:` headers) on stdout; with -notes, NOTES.txt
// instead. Exits 1 with the template error (including `required` / `fail` messages).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// normalize turns yaml.v2's map[interface{}]interface{} into JSON-shaped data (string keys,
// float64 numbers), as Helm's sigs.k8s.io/yaml loading does.
func normalize(v interface{}) (interface{}, error) {
	conv := func(x interface{}) interface{} { return x }
	var walk func(interface{}) (interface{}, error)
	walk = func(x interface{}) (interface{}, error) {
		switch t := x.(type) {
		case map[interface{}]interface{}:
			m := map[string]interface{}{}
			for k, val := range t {
				w, err := walk(val)
				if err != nil {
					return nil, err
				}
				m[fmt.Sprint(k)] = w
			}
			return m, nil
		case []interface{}:
			out := make([]interface{}, len(t))
			for i, val := range t {
				w, err := walk(val)
				if err != nil {
					return nil, err
				}
				out[i] = w
			}
			return out, nil
		default:
			return conv(t), nil
		}
	}
	w, err := walk(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(b, &out)
	return out, err
}

func parseYAML(data []byte) (map[string]interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	n, err := normalize(raw)
	if err != nil {
		return nil, err
	}
	m, ok := n.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("top level is not a map")
	}
	return m, nil
}

// merge coalesces src over dst like Helm: maps merge deeply, other values replace, null deletes.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Files gives templates the chart's files, as Helm's .Files does.
type Files struct{ root string }

// Get returns a file's content, or "" when it does not exist (as Helm does).
func (f Files) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(name)))
	if err != nil {
		return ""
	}
	return string(b)
}

// KubeVersion mirrors Helm's .Capabilities.KubeVersion.
type KubeVersion struct{ Version, Major, Minor, GitVersion string }

func (k KubeVersion) String() string { return k.Version }

// VersionSet mirrors Helm's .Capabilities.APIVersions.
type VersionSet []string

// Has reports whether an apiVersion (or apiVersion/Kind) is available.
func (v VersionSet) Has(s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	chart := flag.String("chart", "", "chart directory")
	var valueFiles, extra multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable)")
	flag.Var(&extra, "extra-template", "an extra template file rendered with the chart (repeatable)")
	kube := flag.String("kube-version", "1.29.0", "Kubernetes version for .Capabilities")
	release := flag.String("release", "pw", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	valuesJSON := flag.String("values-json", "", "write the merged values here as JSON")
	notes := flag.Bool("notes", false, "print NOTES.txt instead of the manifests")
	apis := flag.String("api-versions", "monitoring.coreos.com/v1", "comma-separated extra API versions")
	flag.Parse()
	if *chart == "" {
		fmt.Fprintln(os.Stderr, "helmrender: -chart is required")
		os.Exit(2)
	}
	if err := run(*chart, valueFiles, extra, *kube, *release, *namespace, *valuesJSON, *notes,
		*apis); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(chartDir string, valueFiles, extra []string, kube, release, namespace, valuesJSON string,
	notes bool, apis string) error {
	chartYAML, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	meta, err := parseYAML(chartYAML)
	if err != nil {
		return fmt.Errorf("Chart.yaml: %v", err)
	}
	chartName, _ := meta["name"].(string)
	chartObj := map[string]interface{}{}
	for k, v := range meta { // Helm exposes Chart.yaml fields capitalized: .Chart.AppVersion
		chartObj[strings.ToUpper(k[:1])+k[1:]] = v
	}

	valuesData, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	values, err := parseYAML(valuesData)
	if err != nil {
		return fmt.Errorf("values.yaml: %v", err)
	}
	for _, f := range valueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		over, err := parseYAML(data)
		if err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		values = merge(values, over)
	}
	if valuesJSON != "" {
		b, _ := json.MarshalIndent(values, "", "  ")
		if err := os.WriteFile(valuesJSON, b, 0o644); err != nil {
			return err
		}
	}

	kv := strings.TrimPrefix(kube, "v")
	parts := strings.SplitN(kv, ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("bad -kube-version %q", kube)
	}
	apiVersions := VersionSet{"v1", "apps/v1", "batch/v1", "policy/v1"}
	for _, a := range strings.Split(apis, ",") {
		if a != "" {
			apiVersions = append(apiVersions, a)
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chartObj,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true,
			"IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": KubeVersion{Version: "v" + kv, Major: parts[0], Minor: parts[1],
				GitVersion: "v" + kv},
			"APIVersions": apiVersions,
		},
		"Files": Files{root: chartDir},
	}
	// Helm >= 3.7 gives a parent chart each dependency's own top-level object as
	// .Subcharts.NAME; -extra-template files play such a parent, so they see this chart there.
	sub := map[string]interface{}{}
	for k, v := range top {
		sub[k] = v
	}
	top["Subcharts"] = map[string]interface{}{chartName: sub}

	// Every file under templates/ joins one template set, named like Helm names them.
	type tfile struct{ name, text string }
	var files []tfile
	err = filepath.Walk(filepath.Join(chartDir, "templates"), func(p string, info os.FileInfo,
		err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, tfile{path.Join(chartName, filepath.ToSlash(rel)), string(b)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range extra {
		b, err := os.ReadFile(e)
		if err != nil {
			return err
		}
		files = append(files, tfile{path.Join(chartName, "templates", filepath.Base(e)), string(b)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })

	root := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env") // Helm removes these two
	delete(funcs, "expandenv")
	includeDepth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 100 {
			return "", fmt.Errorf("include %q: too deep", name)
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
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
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m, err := parseYAML([]byte(s))
		if err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		return m
	}
	funcs["toJson"] = func(v interface{}) string {
		b, _ := json.Marshal(v)
		return string(b)
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
			return nil, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	root.Funcs(funcs)
	for _, f := range files {
		if _, err := root.New(f.name).Parse(f.text); err != nil {
			return err
		}
	}

	var out strings.Builder
	for _, f := range files {
		base := path.Base(f.name)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || notes != isNotes {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{
			"Name": f.name, "BasePath": path.Join(chartName, "templates"),
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, f.name, data); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if notes {
			out.WriteString(text)
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", f.name, strings.TrimSpace(text))
	}
	fmt.Print(out.String())
	return nil
}
