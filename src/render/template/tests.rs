use super::*;
use serde_json::json;

fn render(template: &str, value: &Value) -> String {
    Template::parse(template).unwrap().render(value).unwrap()
}

#[test]
fn fields_and_json_render_like_docker() {
    let value = json!({"Id": "sha256:ab", "Size": 12, "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}, "Entrypoint": null, "Volumes": null}, "RepoTags": ["a:1", "b:2"]});
    assert_eq!(render("{{.Id}}", &value), "sha256:ab");
    assert_eq!(render("{{json .Config.Env}}", &value), r#"["A=1","B=2"]"#);
    assert_eq!(render("env={{.Config.Env}}", &value), "env=[A=1 B=2]");
    assert_eq!(render("{{.Config.Labels}}", &value), "map[k:v]");
    assert_eq!(render("{{.Config.Labels.k}}", &value), "v");
    assert_eq!(render("{{.Config.Entrypoint}}", &value), "[]");
    assert_eq!(render("{{.Config.Volumes}}", &value), "map[]");
    assert_eq!(render("{{.Nope}}", &value), "<no value>");
    assert_eq!(render("{{.Size}}", &value), "12");
    assert_eq!(render("{{json .Config.Entrypoint}}", &value), "null");
    assert_eq!(render("{{index .RepoTags 1}}", &value), "b:2");
    assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, &value), "v");
    assert_eq!(render(r#"{{join .RepoTags ", "}}"#, &value), "a:1, b:2");
    assert_eq!(render("{{len .RepoTags}}", &value), "2");
    assert_eq!(render("{{upper .Id}}", &value), "SHA256:AB");
    assert_eq!(
        render(r#"{{range .RepoTags}}{{.}}{{"\n"}}{{end}}"#, &value),
        "a:1\nb:2\n"
    );
    assert_eq!(
        render("{{if .Config.Entrypoint}}yes{{else}}no{{end}}", &value),
        "no"
    );
    assert_eq!(render("a {{- .Size -}} b", &value), "a12b");
    assert_eq!(
        render("{{json .}}", &json!({"b": 1, "a": [2]})),
        r#"{"a":[2],"b":1}"#
    );
}

#[test]
fn bad_templates_are_errors() {
    for bad in [
        "{{.Id",
        "{{nope .Id}}",
        "{{range .A}}",
        "{{end}}",
        "{{.A..B}}",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
    let t = Template::parse("{{.A.B}}").unwrap();
    assert!(t.render(&json!({"A": "x"})).is_err());
}

#[test]
fn tables_align_like_tabwriter() {
    let t = Template::parse("table {{.Name}}\\t{{.Size}}").unwrap();
    assert!(t.table);
    let out = render_rows(
        &t,
        &json!({"Name": "NAME", "Size": "SIZE"}),
        &[
            json!({"Name": "a-long-name-here", "Size": "1kB"}),
            json!({"Name": "b", "Size": "2MB"}),
        ],
    )
    .unwrap();
    assert_eq!(
        out,
        "NAME               SIZE\na-long-name-here   1kB\nb                  2MB\n"
    );
}
