use super::*;
use std::collections::BTreeSet;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn base() -> Vec<(String, String)> {
    vars(&[
        ("FILE", "dir/sub/name.tar.gz"),
        ("EMPTY", ""),
        ("V", "1.2.3"),
        ("SPACED", "  a  b "),
    ])
}

fn x(word: &str) -> String {
    Lexer::default()
        .expand(word, &base())
        .unwrap_or_else(|e| panic!("{word:?}: {e}"))
}

fn err(word: &str) -> String {
    Lexer::default()
        .expand(word, &base())
        .expect_err(word)
        .reason
}

#[test]
fn plain_and_braced_names() {
    assert_eq!(x("$V"), "1.2.3");
    assert_eq!(x("${V}x"), "1.2.3x");
    assert_eq!(x("$Vx"), "", "the name runs on");
    assert_eq!(x("a$"), "a$");
    assert_eq!(x("$/"), "$/");
    assert_eq!(x("$UNSET-"), "-");
    assert_eq!(x("$1$@$#"), "");
}

#[test]
fn defaults_and_alternatives_distinguish_unset_from_empty() {
    assert_eq!(x("${EMPTY-d}"), "");
    assert_eq!(x("${EMPTY:-d}"), "d");
    assert_eq!(x("${UNSET-d}"), "d");
    assert_eq!(x("${V:-d}"), "1.2.3");
    assert_eq!(x("${UNSET+a}${EMPTY+b}${V+c}"), "bc");
    assert_eq!(x("${UNSET:+a}${EMPTY:+b}${V:+c}"), "c");
    assert_eq!(x("${UNSET:-${V:-no}}"), "1.2.3", "words nest");
    assert_eq!(x("${UNSET:-'a b'\"$V\"}"), "a b1.2.3", "words take quotes");
}

#[test]
fn required_variables_fail_with_the_message() {
    assert_eq!(x("${V?}-${V:?}-${EMPTY?}"), "1.2.3-1.2.3-");
    assert_eq!(err("${UNSET:?need it}"), "UNSET: need it");
    assert_eq!(err("${UNSET?}"), "UNSET: is not allowed to be unset");
    assert_eq!(err("${EMPTY:?}"), "EMPTY: is not allowed to be empty");
    assert_eq!(err("${EMPTY:?set $V}"), "EMPTY: set 1.2.3");
    let e = Lexer::default().expand("x${UNSET?}", &base()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"x${UNSET?}\": UNSET: is not allowed to be unset"
    );
}

#[test]
fn prefix_and_suffix_removal() {
    assert_eq!(x("${FILE#*/}"), "sub/name.tar.gz");
    assert_eq!(x("${FILE##*/}"), "name.tar.gz");
    assert_eq!(x("${FILE%.*}"), "dir/sub/name.tar");
    assert_eq!(x("${FILE%%.*}"), "dir/sub/name");
    assert_eq!(x("${FILE#nomatch}"), "dir/sub/name.tar.gz");
    assert_eq!(
        x("${FILE:#dir/}"),
        "sub/name.tar.gz",
        "BuildKit allows `:#`"
    );
    assert_eq!(x("${UNSET#x}"), "");
    assert_eq!(x("${V#$UNSET}"), "1.2.3");
    assert_eq!(x("${V#?.}"), "2.3");
}

#[test]
fn patterns_are_buildkits_not_bashs() {
    let env = vars(&[("A", "[ab]c*d")]);
    let l = Lexer::default();
    assert_eq!(
        l.expand("${A#[ab]}", &env).unwrap(),
        "c*d",
        "brackets are literal"
    );
    assert_eq!(l.expand(r"${A%\*d}", &env).unwrap(), "[ab]c");
    assert!(
        l.expand(r"${A#\a}", &env)
            .unwrap_err()
            .reason
            .contains("invalid escape"),
        "only * ? and \\ can be escaped"
    );
    assert_eq!(
        l.expand(r"${A#\[}", &env).unwrap_err().reason,
        r"invalid pattern (\[) in substitution: invalid escape '\['"
    );
}

#[test]
fn pattern_replacement() {
    assert_eq!(x("${V/./-}"), "1-2.3");
    assert_eq!(x("${V//./-}"), "1-2-3");
    assert_eq!(x(r"${FILE/*\//}"), "name.tar.gz");
    assert_eq!(x(r"${FILE//\//:}"), "dir:sub:name.tar.gz");
    assert_eq!(
        x("${V/$UNSET/x}"),
        "x1.2.3",
        "an empty pattern matches at the start"
    );
    assert_eq!(x("${V///}"), "1.2.3");
    assert_eq!(x("${UNSET//a/b}"), "");
    let env = vars(&[
        ("U", "http://example.com"),
        ("N", "http://"),
        ("R", "https://"),
    ]);
    assert_eq!(
        Lexer::default().expand("${U/$N/$R}", &env).unwrap(),
        "https://example.com"
    );
    // The replacement keeps its escapes, as BuildKit's does.
    let env = vars(&[("P", "/tmp/a")]);
    assert_eq!(
        Lexer::default().expand(r"${P//\//\/}", &env).unwrap(),
        r"\/tmp\/a"
    );
    assert_eq!(err("${V//x}"), "syntax error: missing '/' in ${}");
    assert_eq!(err("${V//}"), "syntax error: missing '/' in ${}");
    assert_eq!(err("${V/x/y"), "syntax error: missing '}'");
}

#[test]
fn syntax_errors() {
    assert_eq!(err("${"), "syntax error: missing '}'");
    assert_eq!(err("${V"), "syntax error: missing '}'");
    assert_eq!(err("${V:-x"), "syntax error: missing '}'");
    assert_eq!(err("${}"), "syntax error: bad substitution");
    assert_eq!(err("${:x}"), "syntax error: bad substitution");
    assert_eq!(err("${{V}}"), "syntax error: bad substitution");
    assert_eq!(err("${V=x}"), "unsupported modifier (=) in substitution");
    assert_eq!(err("${V:=x}"), "unsupported modifier (:=) in substitution");
    assert_eq!(err("${V^^}"), "unsupported modifier (^) in substitution");
    assert!(err("'abc").contains("matching single-quote"));
    assert!(err("\"abc").contains("matching double-quote"));
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(x(r#"'$V "x"'"#), r#"$V "x""#);
    assert_eq!(x(r#""$V 'x' \$V \" \a""#), r#"1.2.3 'x' $V " \a"#);
    assert_eq!(x(r"\$V\\\'"), r"$V\'");
    assert_eq!(x(r"end\"), "end", "a trailing escape vanishes");
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    let env = base();
    assert_eq!(lexer.escape(), '`');
    assert_eq!(lexer.expand(r"C:\path `$V", &env).unwrap(), r"C:\path $V");
    assert_eq!(lexer.expand(r#""a`"b""#, &env).unwrap(), r#"a"b"#);
    assert_eq!(lexer.expand_words("a` b c", &env).unwrap(), ["a b", "c"]);
}

#[test]
fn word_splitting_happens_after_substitution() {
    let l = Lexer::default();
    let env = base();
    assert_eq!(
        l.expand_words("x $SPACED y", &env).unwrap(),
        ["x", "a", "b", "y"]
    );
    assert_eq!(
        l.expand_words("x \"$SPACED\" y", &env).unwrap(),
        ["x", "  a  b ", "y"]
    );
    assert_eq!(
        l.expand_words(r"a\ b 'c d'e", &env).unwrap(),
        ["a b", "c de"]
    );
    assert_eq!(l.expand_words("  ", &env).unwrap(), Vec::<String>::new());
    assert_eq!(l.expand_words("''", &env).unwrap(), Vec::<String>::new());
    assert_eq!(l.expand("x $SPACED y", &env).unwrap(), "x   a  b  y");
}

#[test]
fn matched_and_unmatched_variables_are_reported() {
    let env = vars(&[("FOO", "xxx"), ("BAR", "")]);
    let got = Lexer::default()
        .process(
            "${FOO-a} ${BAR:-b} ${BAZ+c} $FOO ${QUX#x} \\$SKIPPED '$SKIPPED'",
            &env,
        )
        .unwrap();
    assert_eq!(got.result, "xxx b  xxx  $SKIPPED $SKIPPED");
    let names = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>();
    assert_eq!(names(&got.matched), ["BAR", "FOO"]);
    assert_eq!(names(&got.unmatched), ["BAZ", "QUX"]);
    let none = Lexer::default().process("plain", &env).unwrap();
    assert!(none.matched.is_empty() && none.unmatched.is_empty());
}

#[test]
fn skip_unset_and_raw_quotes_keep_text_for_the_shell() {
    // What BuildKit shows as a RUN step's name: known variables substituted, the rest intact.
    let l = Lexer::default().raw_quotes(true).skip_unset(true);
    let env = vars(&[("A", "1")]);
    assert_eq!(
        l.expand(r#"echo "$A" '$A' $B ${B} ${B:-x} ${B/a/b} ${A:+y}"#, &env)
            .unwrap(),
        r#"echo "1" '$A' $B ${B} ${B:-x} ${B/a/b} y"#
    );
}

#[test]
fn skip_quotes_leaves_quotes_in_heredoc_text() {
    let l = Lexer::default().skip_quotes(true);
    let env = vars(&[("A", "1")]);
    assert_eq!(
        l.expand("say \"$A\" 'it''s'\n", &env).unwrap(),
        "say \"1\" 'it''s'\n"
    );
    assert_eq!(
        l.expand("unbalanced ' \"", &env).unwrap(),
        "unbalanced ' \""
    );
}

#[test]
fn raw_escapes_keep_the_escape_character() {
    let l = Lexer::default().raw_escapes(true);
    assert_eq!(l.expand(r"a\ b\$V", &base()).unwrap(), r"a\ b\$V");
}

#[test]
fn any_vars_source_works() {
    let l = Lexer::default();
    let map: BTreeMap<String, String> = [("A".to_string(), "m".to_string())].into();
    assert_eq!(l.expand("$A", &map).unwrap(), "m");
    let hash: HashMap<String, String> = [("A".to_string(), "h".to_string())].into();
    assert_eq!(l.expand("$A", &hash).unwrap(), "h");
    let f = |name: &str| (name == "A").then(|| "f".to_string());
    assert_eq!(l.expand("$A$B", &f).unwrap(), "f");
    let pairs = vars(&[("A", "old"), ("A", "new")]);
    assert_eq!(l.expand("$A", &pairs).unwrap(), "new", "the last pair wins");
}

#[test]
fn no_vars_with_skip_unset_only_splits_and_unquotes() {
    // How BuildKit's parser finds heredoc words: an empty environment, nothing expanded.
    let l = Lexer::default().skip_unset(true);
    assert_eq!(
        l.expand_words(r#"$A "${B:-x y}" 'c d' e\ f"#, &NoVars)
            .unwrap(),
        ["$A", "${B:-x y}", "c d", "e f"]
    );
    let used = l.process("$A ${B}", &NoVars).unwrap();
    assert!(used.matched.is_empty());
    assert_eq!(used.unmatched.into_iter().collect::<Vec<_>>(), ["A", "B"]);
}

#[test]
fn unicode_names_and_values() {
    let env = vars(&[("이름", "값"), ("K", "한국어")]);
    let l = Lexer::default();
    assert_eq!(l.expand("$이름-${K#한}", &env).unwrap(), "값-국어");
    assert_eq!(l.expand("${K%어}", &env).unwrap(), "한국");
}
