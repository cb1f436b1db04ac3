use super::*;
use crate::tools::Workspace;
use pretty_assertions::assert_eq;
use std::fs;

const CARGO_TWO_BINARIES: &str = "\
   Compiling demo v0.1.0 (/tmp/demo)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.52s
     Running unittests src/lib.rs (target/debug/deps/demo-1234)

running 3 tests
test tests::adds ... ok
test tests::subtracts ... FAILED
test tests::multiplies ... ok

failures:

---- tests::subtracts stdout ----
thread 'tests::subtracts' panicked at src/lib.rs:12:9:
assertion `left == right` failed
  left: 1
 right: 2

failures:
    tests::subtracts

test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/api.rs (target/debug/deps/api-5678)

running 4 tests
test a ... ok
test b ... ok
test c ... ok
test d ... ok

test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

error: test failed, to rerun pass `--lib`
";

const PYTEST_FAILED: &str = "\
============================= test session starts ==============================
platform linux -- Python 3.12.3, pytest-8.2.0, pluggy-1.5.0
rootdir: /tmp/proj
collected 6 items

tests/test_calc.py ..F..E                                                [100%]

==================================== ERRORS ====================================
________________________ ERROR at setup of test_divide _________________________
=================================== FAILURES ===================================
__________________________________ test_sub ____________________________________

    def test_sub():
>       assert sub(3, 1) == 1
E       assert 2 == 1

tests/test_calc.py:9: AssertionError
=========================== short test summary info ============================
FAILED tests/test_calc.py::test_sub - assert 2 == 1
ERROR tests/test_calc.py::test_divide
=================== 1 failed, 4 passed, 1 error in 0.05s ===================
";

const PYTEST_QUIET: &str = "\
....s.                                                                   [100%]
5 passed, 1 skipped, 2 warnings in 0.12s
";

const GO_FAILED: &str = "\
--- FAIL: TestAdd (0.00s)
    calc_test.go:9: Add(1, 2) = 4, want 3
--- FAIL: TestMul (0.00s)
    calc_test.go:15: Mul(2, 2) = 5, want 4
FAIL
FAIL\texample.com/calc\t0.002s
ok  \texample.com/util\t0.004s
?   \texample.com/cmd\t[no test files]
FAIL
";

const GO_OK: &str = "\
ok  \texample.com/calc\t0.002s
ok  \texample.com/util\t(cached)
";

const JEST: &str = "\
 FAIL  src/sum.test.js
  ● sum › adds negative numbers

    expect(received).toBe(expected) // Object.is equality

Test Suites: 1 failed, 1 passed, 2 total
Tests:       1 failed, 7 passed, 8 total
Snapshots:   0 total
Time:        0.8 s
Ran all test suites.
";

const VITEST: &str = "\
 ✓ src/a.test.ts (3 tests) 2ms
 ❯ src/b.test.ts (2 tests | 1 failed) 4ms

 Test Files  1 failed | 1 passed (2)
      Tests  1 failed | 4 passed (5)
   Start at  10:00:00
";

const NODE_TAP: &str = "\
TAP version 13
# Subtest: adds
ok 1 - adds
  ---
  duration_ms: 0.5
  ...
# Subtest: subtracts
not ok 2 - subtracts
1..2
# tests 2
# suites 0
# pass 1
# fail 1
# cancelled 0
# skipped 0
# todo 0
# duration_ms 40.1
";

const NODE_SPEC: &str = "\
✔ adds (0.4ms)
✔ subtracts (0.1ms)
ℹ tests 2
ℹ suites 0
ℹ pass 2
ℹ fail 0
ℹ duration_ms 35.2
";

const MOCHA: &str = "\
  calc
    ✓ adds
    1) subtracts

  1 passing (6ms)
  1 failing
";

#[test]
fn parses_real_runner_outputs() {
    let counts = |passed, failed| Some(TestCounts { passed, failed });
    let cases = [
        ("cargo, two binaries", CARGO_TWO_BINARIES, counts(6, 1)),
        ("pytest with an error", PYTEST_FAILED, counts(4, 2)),
        ("pytest -q", PYTEST_QUIET, counts(5, 0)),
        (
            "pytest, nothing collected",
            "\nno tests ran in 0.01s\n",
            counts(0, 0),
        ),
        ("go with failures", GO_FAILED, counts(1, 2)),
        ("go all ok", GO_OK, counts(2, 0)),
        ("jest", JEST, counts(7, 1)),
        ("vitest", VITEST, counts(4, 1)),
        ("node tap", NODE_TAP, counts(1, 1)),
        ("node spec", NODE_SPEC, counts(2, 0)),
        ("mocha", MOCHA, counts(1, 1)),
        (
            "compile error",
            "error[E0425]: cannot find value `x`\nerror: could not compile `demo`\n",
            None,
        ),
        ("empty", "", None),
    ];
    for (name, output, want) in cases {
        assert_eq!(parse_test_counts(output), want, "case `{name}`");
    }
}

/// Name, files to create (path, content), expected command.
type DetectCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

#[test]
fn detects_the_project_test_command() {
    let cases: [DetectCase; 9] = [
        (
            "cargo",
            &[("Cargo.toml", "[package]"), ("Makefile", "test:\n")],
            Some("cargo test"),
        ),
        (
            "pyproject",
            &[("pyproject.toml", "")],
            Some("python3 -m pytest -q"),
        ),
        (
            "tests dir",
            &[("tests/test_x.py", "")],
            Some("python3 -m pytest -q"),
        ),
        (
            "npm",
            &[("package.json", r#"{"scripts":{"test":"jest"}}"#)],
            Some("npm test --silent"),
        ),
        (
            "npm placeholder",
            &[(
                "package.json",
                r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#,
            )],
            None,
        ),
        ("go", &[("go.mod", "module x\n")], Some("go test ./...")),
        (
            "make",
            &[("Makefile", "all:\n\tcc x.c\n\ntest: all\n\t./run\n")],
            Some("make test"),
        ),
        (
            "make variable only",
            &[("Makefile", "test := 1\ntests:\n")],
            None,
        ),
        ("nothing", &[("README.md", "hi")], None),
    ];
    for (name, files, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        assert_eq!(detect_test_command(dir.path()), want, "case `{name}`");
    }
}

fn ctx(root: &Path) -> ToolContext {
    ToolContext::new(Workspace::new(root).unwrap())
}

#[tokio::test]
async fn runs_the_project_command_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let command = "echo 'test result: FAILED. 3 passed; 1 failed; 0 ignored'; exit 101";
    let mut ctx = ctx(dir.path());
    ctx.test_command = Some(command.into());
    let out = RunTests.run(json!({}), &ctx).await.unwrap();
    assert_eq!(
        out.data,
        Some(
            json!({"command": command, "filtered": false, "passed": 3, "failed": 1, "exit_code": 101, "success": false})
        )
    );
    assert!(
        out.content.ends_with(&format!(
            "[exit code 101]\n[tests FAILED: 3 passed, 1 failed — `{command}`]"
        )),
        "{}",
        out.content
    );
}

#[tokio::test]
async fn uses_the_configured_then_the_detected_command() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("Makefile"), "test:\n\t@echo '2 passing'\n").unwrap();
    let mut ctx = ctx(dir.path());
    ctx.test_command = Some("echo '# pass 4'".into());
    let out = RunTests.run(json!({}), &ctx).await.unwrap();
    assert_eq!(out.data.as_ref().unwrap()["passed"], json!(4));
    ctx.test_command = Some("  ".into());
    let out = RunTests.run(json!({}), &ctx).await;
    // `make` may be missing on a minimal machine; the command choice is what matters here.
    let data = out.unwrap().data.unwrap();
    assert_eq!(data["command"], json!("make test"));
}

#[tokio::test]
async fn no_command_found_is_an_actionable_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = RunTests.run(json!({}), &ctx(dir.path())).await.unwrap_err();
    assert!(
        err.to_string().starts_with("no test command found in "),
        "{err}"
    );
    assert!(err.to_string().contains("--test-cmd"), "{err}");
}

#[test]
fn filters_narrow_the_project_command_and_are_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(dir.path());
    ctx.test_command = Some("python3 -m pytest -q".into());
    let plan = TestRun::plan(
        &json!({"filter": ["tests/test_io.py::test_read[a-1]", "parser"]}),
        &ctx,
    )
    .unwrap();
    assert_eq!(
        plan,
        TestRun {
            command: "python3 -m pytest -q 'tests/test_io.py::test_read[a-1]' 'parser'".into(),
            filtered: true
        }
    );
    let plain = TestRun::plan(&json!({"filter": []}), &ctx).unwrap();
    assert!(!plain.filtered);
    ctx.test_command = None;
    fs::write(dir.path().join("go.mod"), "module x\n").unwrap();
    let go = TestRun::plan(&json!({"filter": ["TestA", "TestB"]}), &ctx).unwrap();
    assert_eq!(go.command, "go test -run 'TestA|TestB' ./...");
}

#[test]
fn filters_that_are_not_plain_words_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(dir.path());
    ctx.test_command = Some("cargo test".into());
    for bad in [
        "--config=target.runner='sh -c x'",
        "-p",
        "x; curl evil",
        "$(id)",
        "a b",
        "../outside/test.py",
        "/etc/passwd",
        "`id`",
        "x'y",
    ] {
        let err = TestRun::plan(&json!({"filter": [bad]}), &ctx).unwrap_err();
        assert!(
            err.to_string().contains("not a plain test filter"),
            "{bad}: {err}"
        );
    }
    fs::write(dir.path().join("Makefile"), "test:\n\ttrue\n").unwrap();
    ctx.test_command = None;
    let err = TestRun::plan(&json!({"filter": ["x"]}), &ctx).unwrap_err();
    assert!(err.to_string().contains("takes no filter"), "{err}");
}

#[tokio::test]
async fn long_logs_keep_their_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(dir.path());
    ctx.output_limit = 200;
    ctx.test_command = Some("i=0; while [ $i -lt 300 ]; do echo noise $i; i=$((i+1)); done; echo 'test result: ok. 1 passed; 0 failed;'".into());
    let out = RunTests.run(json!({}), &ctx).await.unwrap();
    assert!(out.content.starts_with("[… "), "{}", out.content);
    assert!(
        out.content.contains("noise 299\ntest result: ok."),
        "{}",
        out.content
    );
    assert_eq!(out.data.unwrap()["success"], json!(true));
}
