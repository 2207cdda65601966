//! The relabel engine against Prometheus 2.42's behaviour, step by step
//! (tests/hub/relabel.rs runs it against the real promtool).

use super::*;

fn resolve(toml_src: &str) -> Result<Relabel, (String, String)> {
    toml::from_str::<RelabelConfigToml>(toml_src)
        .unwrap_or_else(|e| panic!("{toml_src}: {e}"))
        .resolve()
}

fn step(toml_src: &str) -> Relabel {
    resolve(toml_src).unwrap_or_else(|e| panic!("{toml_src}: {e:?}"))
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|&(n, v)| (n.to_string(), v.to_string())))
}

fn run(pairs: &[(&str, &str)], steps: &[&str]) -> Option<Vec<(String, String)>> {
    let cfgs: Vec<Relabel> = steps.iter().map(|s| step(s)).collect();
    process(ls(pairs), &cfgs).map(|l| {
        l.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    })
}

fn pairs(p: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        p.iter()
            .map(|&(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

fn error(toml_src: &str) -> (String, String) {
    match resolve(toml_src) {
        Ok(r) => panic!("{toml_src}: accepted as {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_are_prometheus_defaults() {
    let r = step(r#"target_label = "x""#);
    assert_eq!(r.action(), Action::Replace);
    assert_eq!(r.regex(), "(.*)");
    assert_eq!(r.separator, ";");
    assert_eq!(r.replacement, "$1");
    assert!(r.source_labels.is_empty());
    // No sources: the value is "", "(.*)" matches, "$1" is "": x is deleted.
    assert_eq!(
        run(&[("x", "1"), ("y", "2")], &[r#"target_label = "x""#]),
        pairs(&[("y", "2")])
    );
    // The default separator; a missing label counts as "".
    assert_eq!(
        run(
            &[("a", "1"), ("c", "3")],
            &[r#"source_labels = ["a", "b", "c"]
                 target_label = "j""#]
        ),
        pairs(&[("a", "1"), ("c", "3"), ("j", "1;;3")])
    );
    assert_eq!(
        run(
            &[("a", "1"), ("c", "3")],
            &[r#"source_labels = ["a", "c"]
                 separator = ""
                 target_label = "j""#]
        ),
        pairs(&[("a", "1"), ("c", "3"), ("j", "13")])
    );
    // No steps: untouched, empty values and all.
    assert_eq!(process(ls(&[("e", "")]), &[]), Some(ls(&[("e", "")])));
}

#[test]
fn replace_expands_target_and_replacement() {
    let l = &[("__address__", "web-7:8080"), ("env", "Prod")];
    let got = run(
        l,
        &[r#"source_labels = ["__address__"]
             regex = '([a-z]+)-(?P<num>\d+):(\d+)'
             target_label = 'idx_${1}'
             replacement = '$num$$${2}x$2x${3}'"#],
    );
    assert_eq!(
        got,
        pairs(&[
            ("__address__", "web-7:8080"),
            ("env", "Prod"),
            ("idx_web", "7$7x8080")
        ])
    );
    // No match: nothing happens.
    assert_eq!(
        run(
            l,
            &[r#"source_labels = ["env"]
                 regex = "dev"
                 target_label = "env"
                 replacement = "x""#]
        ),
        pairs(l)
    );
    // A replacement overwrites.
    assert_eq!(
        run(
            l,
            &[r#"source_labels = ["env"]
                 regex = "(P)(.*)"
                 target_label = "env"
                 replacement = "${2}-$1""#]
        ),
        pairs(&[("__address__", "web-7:8080"), ("env", "rod-P")])
    );
}

#[test]
fn replace_deletes_the_unexpanded_target_label() {
    // 2.42: an empty result deletes the label named by target_label as
    // written, so a template target deletes nothing that exists.
    let l = &[("t_P", "x"), ("env", "Prod"), ("t_$1", "lit")];
    assert_eq!(
        run(
            l,
            &[r#"source_labels = ["env"]
                 regex = "(P)rod"
                 target_label = "t_$1"
                 replacement = """#]
        ),
        pairs(&[("env", "Prod"), ("t_P", "x")])
    );
    // An expanded target that is not a label name deletes target_label too.
    let l = &[("__address__", "10.0.0.1:9100"), ("${1}", "eu")];
    assert_eq!(
        run(
            l,
            &[r#"source_labels = ["__address__"]
                 regex = '(\d+)\..*'
                 target_label = '${1}'
                 replacement = "x""#]
        ),
        pairs(&[("__address__", "10.0.0.1:9100")])
    );
    // An expansion to "" is not a label name either.
    assert_eq!(
        run(
            &[("a", "b")],
            &[r#"source_labels = ["a"]
                 regex = '(x?)b'
                 target_label = '$1'
                 replacement = "y""#]
        ),
        pairs(&[("a", "b")])
    );
}

#[test]
fn regex_is_fully_anchored() {
    let keep_a = r#"action = "keep"
        source_labels = ["v"]
        regex = "a""#;
    assert!(run(&[("v", "a")], &[keep_a]).is_some());
    assert!(run(&[("v", "ab")], &[keep_a]).is_none());
    assert!(run(&[("v", "ba")], &[keep_a]).is_none());
    // Alternation inside the anchors.
    let keep_alt = r#"action = "keep"
        source_labels = ["v"]
        regex = "a|b""#;
    assert!(run(&[("v", "b")], &[keep_alt]).is_some());
    assert!(run(&[("v", "ab")], &[keep_alt]).is_none());
    // Go's anchoring is text: "a)|(b" becomes ^(?:a)|(b)$.
    let quirk = r#"action = "keep"
        source_labels = ["v"]
        regex = "a)|(b""#;
    assert!(run(&[("v", "axx")], &[quirk]).is_some());
    assert!(run(&[("v", "xxb")], &[quirk]).is_some());
    assert!(run(&[("v", "xbx")], &[quirk]).is_none());
    // `.` does not match a newline in 2.x; `$` is the end of the text.
    let dot = r#"action = "keep"
        source_labels = ["v"]
        regex = ".*""#;
    assert!(run(&[("v", "a\nb")], &[dot]).is_none());
    assert!(run(&[("v", "a\n")], &[keep_a]).is_none());
}

#[test]
fn keep_drop_keepequal_dropequal() {
    let l = &[("a", "x"), ("b", "x"), ("c", "y")];
    let drop = r#"action = "drop"
        source_labels = ["a"]
        regex = "x""#;
    assert!(run(l, &[drop]).is_none());
    assert!(run(&[("a", "z")], &[drop]).is_some());
    let keq = |t: &str| {
        format!("action = \"keepequal\"\nsource_labels = [\"a\"]\ntarget_label = \"{t}\"")
    };
    let deq = |t: &str| {
        format!("action = \"dropequal\"\nsource_labels = [\"a\"]\ntarget_label = \"{t}\"")
    };
    assert!(run(l, &[&keq("b")]).is_some());
    assert!(run(l, &[&keq("c")]).is_none());
    assert!(run(l, &[&deq("b")]).is_none());
    assert!(run(l, &[&deq("c")]).is_some());
    // A missing target label counts as "".
    assert!(run(&[("a", "")], &[&keq("zz")]).is_some());
    // The target label is taken as written.
    assert!(run(&[("a", "x"), ("$1", "x")], &[&keq("$1")]).is_some());
    // The first drop ends the list.
    assert!(run(l, &[drop, "target_label = 'never'\nreplacement = 'x'"]).is_none());
}

#[test]
fn lowercase_uppercase() {
    let l = &[("a", "MiXed İSTANBUL straße ᾳ"), ("b", "")];
    assert_eq!(
        run(
            l,
            &[
                "action = 'Lowercase'\nsource_labels = ['a']\ntarget_label = 'lo'",
                "action = 'UPPERCASE'\nsource_labels = ['a']\ntarget_label = 'up'",
                // An empty value deletes the target.
                "action = 'lowercase'\nsource_labels = ['b']\ntarget_label = 'a'",
                // The target is never expanded.
                "action = 'uppercase'\nsource_labels = ['lo']\ntarget_label = '${1}'",
            ]
        ),
        pairs(&[
            ("${1}", "MIXED ISTANBUL STRAßE ᾼ"),
            ("lo", "mixed istanbul straße ᾳ"),
            ("up", "MIXED İSTANBUL STRAßE ᾼ"),
        ])
    );
}

#[test]
fn go_case_mappings_are_simple_mappings() {
    assert_eq!(go_lower("İ"), "i");
    assert_eq!(go_lower("ΣΑΣ"), "σασ");
    assert_eq!(go_lower("\u{212A}EEP"), "keep");
    assert_eq!(go_upper("ß"), "ß");
    assert_eq!(go_upper("ﬁ"), "ﬁ");
    assert_eq!(go_upper("ſ"), "S");
    assert_eq!(
        go_upper("\u{1F80}\u{1F88}\u{1FB3}\u{1FBC}"),
        "\u{1F88}\u{1F88}\u{1FBC}\u{1FBC}"
    );
    assert_eq!(go_upper("ǆ"), "Ǆ");
}

#[test]
fn hashmod_matches_measured_prometheus() {
    let hm = "action = 'hashmod'\nsource_labels = ['__address__', 'dc']\nmodulus = 7\ntarget_label = 'shard'";
    for (addr, want) in [
        ("10.0.0.1:9100", "1"),
        ("host-b:9100", "0"),
        ("Host-C", "5"),
    ] {
        let got = run(&[("__address__", addr), ("dc", "eu")], &[hm]).unwrap();
        assert!(
            got.contains(&("shard".to_string(), want.to_string())),
            "{addr}: {got:?}"
        );
    }
    assert_eq!(hashmod("", 1), 0);
    // md5("") = d41d8cd98f00b204e9800998ecf8427e
    assert_eq!(hashmod("", u64::MAX), 0xe980_0998_ecf8_427e);
}

#[test]
fn labelmap_copies_by_name() {
    let l = &[
        ("__meta_rack", "r1"),
        ("__meta_zone_name", "z-a"),
        ("x", "old"),
        ("dc", "eu"),
    ];
    assert_eq!(
        run(
            l,
            &["action = 'labelmap'\nregex = '__meta_(.+)'\nreplacement = 'meta_$1'"]
        ),
        pairs(&[
            ("__meta_rack", "r1"),
            ("__meta_zone_name", "z-a"),
            ("dc", "eu"),
            ("meta_rack", "r1"),
            ("meta_zone_name", "z-a"),
            ("x", "old"),
        ])
    );
    // Default replacement $1; several names onto one: the last in name
    // order wins.
    assert_eq!(
        run(
            &[("a_x", "1"), ("b_x", "2")],
            &["action = 'labelmap'\nregex = '[ab]_(x)'"]
        ),
        pairs(&[("a_x", "1"), ("b_x", "2"), ("x", "2")])
    );
    // An empty-valued source label deletes the copy's name (Builder.Set
    // of "" is a delete), then the empty label itself goes.
    assert_eq!(
        run(
            &[("__meta_x", ""), ("x", "keep?")],
            &["action = 'labelmap'\nregex = '__meta_(.+)'"]
        ),
        pairs(&[])
    );
}

#[test]
fn labeldrop_labelkeep() {
    let l = &[
        ("__tmp_a", "1"),
        ("__tmp_b", "2"),
        ("job", "j"),
        ("tmp", "3"),
    ];
    assert_eq!(
        run(l, &["action = 'labeldrop'\nregex = '__tmp_.*'"]),
        pairs(&[("job", "j"), ("tmp", "3")])
    );
    assert_eq!(
        run(l, &["action = 'labelkeep'\nregex = 'job|__tmp_a'"]),
        pairs(&[("__tmp_a", "1"), ("job", "j")])
    );
    // Names are matched fully.
    assert_eq!(
        run(l, &["action = 'labeldrop'\nregex = 'tmp'"]),
        pairs(&[("__tmp_a", "1"), ("__tmp_b", "2"), ("job", "j")])
    );
}

#[test]
fn every_kept_step_drops_empty_values() {
    for s in [
        "action = 'keep'\nregex = '.*'",
        "action = 'drop'\nregex = 'never'",
        "target_label = 'x'\nsource_labels = ['a']\nregex = 'no'",
        "action = 'labelkeep'\nregex = '.*'",
    ] {
        assert_eq!(
            run(&[("a", "1"), ("e", "")], &[s]),
            pairs(&[("a", "1")]),
            "{s}"
        );
    }
}

#[test]
fn action_names_any_case() {
    assert_eq!(
        step("action = 'HashMod'\nmodulus = 2\ntarget_label = 'x'").action(),
        Action::HashMod
    );
    assert_eq!(step("action = 'LABELDROP'").action(), Action::LabelDrop);
    assert_eq!(step("action = '\u{212A}eep'").action(), Action::Keep);
}

#[test]
fn config_errors_are_prometheus_errors() {
    let cases: &[(&str, &str, &str)] = &[
        ("action = 'nope'", "action", "unknown relabel action \"nope\""),
        ("action = ''", "action", "unknown relabel action \"\""),
        ("source_labels = ['1a']\ntarget_label = 'x'", "source_labels", "\"1a\" is not a valid label name"),
        ("regex = '(a'\ntarget_label = 'x'", "regex", "error parsing regexp: "),
        ("action = 'hashmod'\ntarget_label = 'x'", "modulus", "relabel configuration for hashmod requires non-zero modulus"),
        ("action = 'hashmod'\nmodulus = 0\ntarget_label = 'x'", "modulus", "relabel configuration for hashmod requires non-zero modulus"),
        ("source_labels = ['a']", "target_label", "relabel configuration for replace action requires 'target_label' value"),
        ("action = 'hashmod'\nmodulus = 3", "target_label", "relabel configuration for hashmod action requires 'target_label' value"),
        ("action = 'lowercase'", "target_label", "relabel configuration for lowercase action requires 'target_label' value"),
        ("action = 'keepequal'", "target_label", "relabel configuration for keepequal action requires 'target_label' value"),
        ("target_label = '1x'", "target_label", "\"1x\" is invalid 'target_label' for replace action"),
        ("target_label = 'a-b'", "target_label", "\"a-b\" is invalid 'target_label' for replace action"),
        ("target_label = 'a${b'", "target_label", "\"a${b\" is invalid 'target_label' for replace action"),
        ("action = 'uppercase'\ntarget_label = 'x.y'", "target_label", "\"x.y\" is invalid 'target_label' for uppercase action"),
        ("action = 'hashmod'\nmodulus = 3\ntarget_label = '$1'", "target_label", "\"$1\" is invalid 'target_label' for hashmod action"),
        ("action = 'lowercase'\ntarget_label = 'x'\nreplacement = 'y'", "replacement", "'replacement' can not be set for lowercase action"),
        ("action = 'dropequal'\ntarget_label = 'x'\nreplacement = ''", "replacement", "'replacement' can not be set for dropequal action"),
        ("action = 'labelmap'\nreplacement = 'a-$1'", "replacement", "\"a-$1\" is invalid 'replacement' for labelmap action"),
        ("action = 'labelmap'\nreplacement = ''", "replacement", "\"\" is invalid 'replacement' for labelmap action"),
        ("action = 'keepequal'\ntarget_label = 'x'\nregex = '(.*)'", "regex", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("action = 'dropequal'\ntarget_label = 'x'\nseparator = ','", "separator", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("action = 'keepequal'\ntarget_label = 'x'\nmodulus = 2", "modulus", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("action = 'labeldrop'\nsource_labels = []", "source_labels", "labeldrop action requires only 'regex', and no other fields"),
        ("action = 'labelkeep'\ntarget_label = 'x'", "target_label", "labelkeep action requires only 'regex', and no other fields"),
        ("action = 'labeldrop'\nseparator = ''", "separator", "labeldrop action requires only 'regex', and no other fields"),
        ("action = 'labeldrop'\nreplacement = 'x'", "replacement", "labeldrop action requires only 'regex', and no other fields"),
    ];
    for (src, key, msg) in cases {
        let (k, m) = error(src);
        assert_eq!((k.as_str(), m.starts_with(msg)), (*key, true), "{src}: {m}");
    }
    // What 2.42 lets through.
    for ok in [
        "action = 'keepequal'\ntarget_label = 'x'\nseparator = ';'\nreplacement = '$1'\nmodulus = 0",
        "action = 'labeldrop'\ntarget_label = ''\nseparator = ';'",
        "action = 'lowercase'\ntarget_label = '$1'",
        "target_label = 'a${1}b$2_$name'",
        "action = 'drop'",
        "action = 'labelmap'\nreplacement = '${1}_x'",
        "action = 'hashmod'\nmodulus = 1\ntarget_label = '_'\nreplacement = 'ignored'",
        "regex = ''\ntarget_label = 'x'",
    ] {
        assert!(resolve(ok).is_ok(), "{ok}: {:?}", resolve(ok));
    }
    // Unknown keys and non-string regexes are refused by the reader.
    assert!(toml::from_str::<RelabelConfigToml>("regexp = 'a'").is_err());
    assert!(toml::from_str::<RelabelConfigToml>("regex = 5").is_err());
    assert!(toml::from_str::<RelabelConfigToml>("modulus = -1").is_err());
}

#[test]
fn target_template_is_prometheus_pattern() {
    // The hand-written check against the pattern itself.
    let re = regex_lite::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").unwrap();
    let alphabet = ["a", "Z", "_", "1", "$", "{", "}", "-", "é"];
    let mut strings = vec![String::new()];
    let mut level = vec![String::new()];
    for _ in 0..5 {
        level = level
            .iter()
            .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
            .collect();
        strings.extend(level.iter().cloned());
    }
    for s in &strings {
        assert_eq!(valid_target_template(s), re.is_match(s), "{s:?}");
    }
}

#[test]
fn quote_is_go_quote() {
    assert_eq!(go_quote("a\"b\\c\n\t\x01é"), "\"a\\\"b\\\\c\\n\\t\\x01é\"");
    assert_eq!(go_quote("\u{2028}"), "\"\\u2028\"");
}

#[test]
fn never_panics() {
    // Odd patterns, templates and values through every action.
    let regexes = [
        "",
        "(.*)",
        "(a*)*",
        "(|a)+",
        "^$",
        "\\b",
        "(?i)É",
        "[^\\x00-\\x{10FFFF}]",
        "(?s).*",
        "x{0}",
        "(?P<n>)",
        "a)|(b",
    ];
    let templates = [
        "$",
        "${",
        "$0",
        "$1$2$3$n",
        "${n}",
        "$$",
        "é$é",
        "$99999999999",
    ];
    let values = ["", "é", "\u{10FFFF}", "a\nb", "\0", &"ab".repeat(5000)];
    for re in regexes {
        let Ok(re) = GoRegexp::new(&format!("^(?:{re})$")) else {
            continue;
        };
        for t in templates {
            for v in values {
                let mut locs = re.locations();
                let mut s = String::new();
                if re.captures(&mut locs, v) {
                    re.expand(&mut s, t, v, &locs);
                }
                let _ = re.replace_all(v, t);
            }
        }
    }
    let steps = [
        "action = 'labelmap'\nregex = '(.*)'\nreplacement = '$1$1'",
        "action = 'hashmod'\nmodulus = 18446744073709551615\ntarget_label = 'h'\nsource_labels = ['a']",
        "source_labels = ['a']\nregex = '(.*)'\ntarget_label = '$1'\nreplacement = '$1'",
    ];
    for v in values {
        let _ = run(&[("a", v), (v, "x")], &steps);
    }
}
