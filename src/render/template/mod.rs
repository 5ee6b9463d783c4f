//! The subset of Go's `text/template` that docker users pass to `--format`: fields
//! (`{{.Config.Env}}`), functions (`json`, `index`, `join`, `len`, `upper`, `lower`, `title`),
//! string and number literals, `{{range}}`, `{{if}}`/`{{else}}`/`{{end}}`, trim markers
//! (`{{-`, `-}}`), and docker's `table` prefix with tab-aligned columns.
//!
//! Values are JSON, printed as Go prints the typed values docker has behind them: lists as
//! `[a b]`, maps as `map[k:v]`, a missing field as `<no value>`, and a null list or map field
//! as `[]` or `map[]`.

use serde_json::Value;

/// A parse or evaluation error, with the template it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

type Result<T> = std::result::Result<T, TemplateError>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(TemplateError(message.into()))
}

/// Fields docker declares as lists or maps: printed as `[]` / `map[]` when null.
const LIST_FIELDS: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "OnBuild",
    "Shell",
    "RepoTags",
    "RepoDigests",
    "Layers",
    "Test",
];
const MAP_FIELDS: &[&str] = &["Labels", "Volumes", "ExposedPorts", "Data"];

#[derive(Debug, Clone)]
enum Arg {
    /// `.`, `.A.B`: the path from dot.
    Field(Vec<String>),
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone)]
struct Expr {
    function: Option<String>,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Expr),
    Range(Expr, Vec<Node>, Vec<Node>),
    If(Expr, Vec<Node>, Vec<Node>),
}

/// A parsed `--format` template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// Docker's `table` prefix: print a header line and align columns at tabs.
    pub table: bool,
}

enum Piece {
    Text(String),
    Action(String),
}

fn split_pieces(text: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        let end = match rest[start..].find("}}") {
            Some(e) => start + e,
            None => return err(format!("unclosed action in `{text}`")),
        };
        let mut inner = &rest[start + 2..end];
        if let Some(trimmed) = inner.strip_prefix('-') {
            if trimmed.starts_with(char::is_whitespace) || trimmed.is_empty() {
                before = before.trim_end();
                inner = trimmed;
            }
        }
        let mut after = &rest[end + 2..];
        if let Some(trimmed) = inner.strip_suffix('-') {
            if trimmed.ends_with(char::is_whitespace) || trimmed.is_empty() {
                inner = trimmed;
                after = after.trim_start();
            }
        }
        if !before.is_empty() {
            pieces.push(Piece::Text(before.to_string()));
        }
        pieces.push(Piece::Action(inner.trim().to_string()));
        rest = after;
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn tokens(action: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut literal = String::from("\"");
            loop {
                match chars.next() {
                    None => return err(format!("unterminated string in `{action}`")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => literal.push('\n'),
                        Some('t') => literal.push('\t'),
                        Some(other) => literal.push(other),
                        None => return err(format!("unterminated string in `{action}`")),
                    },
                    Some(other) => literal.push(other),
                }
            }
            out.push(literal);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

fn parse_arg(token: &str) -> Result<Arg> {
    if let Some(literal) = token.strip_prefix('"') {
        return Ok(Arg::Str(literal.to_string()));
    }
    if token == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = token.strip_prefix('.') {
        let fields: Vec<String> = path.split('.').map(str::to_string).collect();
        if fields.iter().any(String::is_empty) {
            return err(format!("bad field `{token}`"));
        }
        return Ok(Arg::Field(fields));
    }
    if let Ok(n) = token.parse::<i64>() {
        return Ok(Arg::Int(n));
    }
    err(format!("unsupported operand `{token}`"))
}

const FUNCTIONS: &[&str] = &["json", "index", "join", "len", "upper", "lower", "title"];

fn parse_expr(tokens: &[String], action: &str) -> Result<Expr> {
    match tokens.first() {
        None => err("empty action"),
        Some(first) if FUNCTIONS.contains(&first.as_str()) => Ok(Expr {
            function: Some(first.clone()),
            args: tokens[1..]
                .iter()
                .map(|t| parse_arg(t))
                .collect::<Result<_>>()?,
        }),
        Some(_) if tokens.len() == 1 => Ok(Expr {
            function: None,
            args: vec![parse_arg(&tokens[0])?],
        }),
        Some(first) => err(format!("function `{first}` not defined in `{action}`")),
    }
}

/// Parses nodes until `else`/`end` (returned) or the end of input.
fn parse_nodes(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Text(text) => nodes.push(Node::Text(text)),
            Piece::Action(action) => {
                let toks = tokens(&action)?;
                match toks.first().map(String::as_str) {
                    Some("end") | Some("else") => return Ok((nodes, Some(toks[0].clone()))),
                    Some(keyword @ ("range" | "if")) => {
                        let expr = parse_expr(&toks[1..], &action)?;
                        let (body, stop) = parse_nodes(pieces)?;
                        let otherwise = match stop.as_deref() {
                            Some("else") => match parse_nodes(pieces)? {
                                (nodes, Some(s)) if s == "end" => nodes,
                                _ => return err(format!("`{keyword}` without `end`")),
                            },
                            Some("end") => Vec::new(),
                            _ => return err(format!("`{keyword}` without `end`")),
                        };
                        nodes.push(if keyword == "range" {
                            Node::Range(expr, body, otherwise)
                        } else {
                            Node::If(expr, body, otherwise)
                        });
                    }
                    _ => nodes.push(Node::Action(parse_expr(&toks, &action)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

impl Template {
    /// Parses a template; `table …` sets [`Template::table`] and, as docker does, `\t` and
    /// `\n` written as two characters become a tab and a newline.
    pub fn parse(text: &str) -> Result<Template> {
        let (table, body) = match text.trim_start().strip_prefix("table") {
            Some(rest) => (true, rest.trim().replace("\\t", "\t").replace("\\n", "\n")),
            None => (false, text.to_string()),
        };
        let mut pieces = split_pieces(&body)?.into_iter().peekable();
        let (nodes, stop) = parse_nodes(&mut pieces)?;
        if let Some(stop) = stop {
            return err(format!("unexpected `{stop}` in `{text}`"));
        }
        Ok(Template { nodes, table })
    }

    /// Renders the template against `dot`.
    pub fn render(&self, dot: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, dot, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action(expr) => out.push_str(&print(&eval(expr, dot)?)),
            Node::Range(expr, body, otherwise) => {
                let value = eval(expr, dot)?.value;
                let items: Vec<Value> = match value {
                    Value::Array(items) => items,
                    Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    other => return err(format!("range can't iterate over {other}")),
                };
                if items.is_empty() {
                    render_nodes(otherwise, dot, out)?;
                }
                for item in &items {
                    render_nodes(body, item, out)?;
                }
            }
            Node::If(expr, body, otherwise) => {
                let chosen = if truthy(&eval(expr, dot)?.value) {
                    body
                } else {
                    otherwise
                };
                render_nodes(chosen, dot, out)?;
            }
        }
    }
    Ok(())
}

/// A value with what Go would know of its type when it is null or missing.
struct Evaluated {
    value: Value,
    missing: bool,
    field: Option<String>,
}

fn plain(value: Value) -> Evaluated {
    Evaluated {
        value,
        missing: false,
        field: None,
    }
}

fn arg_value(arg: &Arg, dot: &Value) -> Result<Evaluated> {
    match arg {
        Arg::Str(s) => Ok(plain(Value::String(s.clone()))),
        Arg::Int(n) => Ok(plain(Value::from(*n))),
        Arg::Field(path) => {
            let mut current = dot;
            for field in path {
                match current {
                    Value::Object(map) => match map.get(field) {
                        Some(v) => current = v,
                        None => {
                            return Ok(Evaluated {
                                value: Value::Null,
                                missing: true,
                                field: Some(field.clone()),
                            })
                        }
                    },
                    Value::Null => {
                        return err(format!("nil pointer evaluating .{}", path.join(".")))
                    }
                    _ => {
                        return err(format!(
                            "can't evaluate field {field} in .{}",
                            path.join(".")
                        ))
                    }
                }
            }
            Ok(Evaluated {
                value: current.clone(),
                missing: false,
                field: path.last().cloned(),
            })
        }
    }
}

fn eval(expr: &Expr, dot: &Value) -> Result<Evaluated> {
    let mut args = expr
        .args
        .iter()
        .map(|a| arg_value(a, dot))
        .collect::<Result<Vec<_>>>()?;
    let Some(function) = &expr.function else {
        return Ok(args.remove(0));
    };
    let want = |n: usize| -> Result<()> {
        if args.len() == n {
            Ok(())
        } else {
            err(format!(
                "wrong number of args for {function}: want {n} got {}",
                args.len()
            ))
        }
    };
    let text = |e: &Evaluated| match &e.value {
        Value::String(s) => s.clone(),
        _ => print(e),
    };
    Ok(match function.as_str() {
        "json" => {
            want(1)?;
            plain(Value::String(args[0].value.to_string()))
        }
        "upper" | "lower" | "title" => {
            want(1)?;
            let s = text(&args[0]);
            plain(Value::String(match function.as_str() {
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                _ => {
                    let mut c = s.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                }
            }))
        }
        "len" => {
            want(1)?;
            plain(Value::from(match &args[0].value {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                other => return err(format!("len of {other}")),
            }))
        }
        "join" => {
            want(2)?;
            let separator = text(&args[1]);
            let items = match &args[0].value {
                Value::Array(a) => a.iter().map(|v| text(&plain(v.clone()))).collect(),
                Value::Null => Vec::new(),
                other => return err(format!("join of {other}")),
            };
            plain(Value::String(items.join(&separator)))
        }
        "index" => {
            if args.len() < 2 {
                return err("index needs a value and at least one key");
            }
            let mut current = args.remove(0).value;
            for key in args {
                current = match (&current, &key.value) {
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                        match a.get(i) {
                            Some(v) => v.clone(),
                            None => return err(format!("index out of range: {n}")),
                        }
                    }
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Null, _) => Value::Null,
                    (value, key) => return err(format!("can't index {value} with {key}")),
                };
            }
            Evaluated {
                value: current,
                missing: false,
                field: None,
            }
        }
        other => return err(format!("function `{other}` not defined")),
    })
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn print(e: &Evaluated) -> String {
    if e.value.is_null() {
        if e.missing {
            return "<no value>".into();
        }
        return match e.field.as_deref() {
            Some(f) if LIST_FIELDS.contains(&f) => "[]".into(),
            Some(f) if MAP_FIELDS.contains(&f) => "map[]".into(),
            _ => "<nil>".into(),
        };
    }
    go_format(&e.value)
}

fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Aligns tab-separated cells as docker's tables do (Go's tabwriter with a minimum width of
/// 10 and 3 spaces of padding; the last cell of a line is left as is).
pub fn align_table(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = (cell.chars().count() + 3).max(10);
            if widths.len() <= i {
                widths.push(width);
            } else {
                widths[i] = widths[i].max(width);
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders rows with a template the way docker's list commands do: with `table`, a header
/// (the template rendered against `header`) and aligned columns; one line per row otherwise.
pub fn render_rows(template: &Template, header: &Value, rows: &[Value]) -> Result<String> {
    let mut lines = Vec::new();
    if template.table {
        lines.push(template.render(header)?);
    }
    for row in rows {
        lines.push(template.render(row)?);
    }
    if template.table {
        let split: Vec<String> = lines
            .iter()
            .flat_map(|l| l.split('\n').map(str::to_string).collect::<Vec<_>>())
            .collect();
        Ok(align_table(&split))
    } else {
        Ok(lines.iter().map(|l| format!("{l}\n")).collect())
    }
}

#[cfg(test)]
mod tests;
