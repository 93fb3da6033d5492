//! The deployment files as an operator applies them, checked against the code they
//! deploy: no container daemon runs on the project's machines, so the Dockerfile, the
//! compose file and the Kubernetes manifests are parsed here instead of run.
//!
//! * every environment variable they give Quire is a real setting, taken from the list
//!   that generates README's settings table (`cli::settings_reference`);
//! * a setting whose value `--help` hides (keys, URLs with passwords) is never a literal:
//!   compose interpolates it from `deploy/.env` and Kubernetes takes it from a Secret
//!   (`secretKeyRef`), and no manifest is a Secret with data;
//! * every probe, healthcheck and scrape path is a route of the OpenAPI document;
//! * every image is pinned to a version, Quire's own to the package's version;
//! * the alert rules and the dashboard name only metrics the code records.
//!
//! `deploy/runtime-stage.sh` (run by CI) covers what parsing cannot: the runtime stage's
//! user, paths, command and healthcheck against a built binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use serde::Deserialize;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every YAML document of a file, as JSON values.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The settings README's table lists (the same generator), and those whose values
/// `--help` hides: the secrets.
struct Settings {
    all: BTreeSet<String>,
    secret: BTreeSet<String>,
}

fn settings() -> Settings {
    let table = quire::cli::settings_reference(quire::cli::SettingsFormat::Markdown);
    let all: BTreeSet<String> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect();
    assert!(
        all.contains("DATABASE_URL") && all.contains("PORT"),
        "{table}"
    );
    let secret = quire::cli::Cli::command()
        .get_arguments()
        .filter(|arg| arg.is_hide_env_values_set())
        .filter_map(|arg| arg.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    Settings { all, secret }
}

/// The paths of the OpenAPI document (the routes every probe may name).
fn routes() -> BTreeSet<String> {
    let (_, doc) =
        OpenApiRouter::<quire::state::AppState>::with_openapi(quire::docs::ApiDoc::openapi())
            .merge(quire::app::api_routes())
            .split_for_parts();
    doc.paths.paths.keys().cloned().collect()
}

/// `image:tag` or `image@sha256:…`, with a tag that names a version (a digit, not
/// `latest`).
fn assert_pinned(image: &str, place: &str) {
    if image.contains("@sha256:") {
        return;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once(':').map(|(_, t)| t).unwrap_or("");
    assert!(
        !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
        "{place}: image {image:?} is not pinned to a version"
    );
}

/// The path of an `http://host:port/path` URL inside a command line.
fn url_paths(text: &str) -> Vec<String> {
    text.match_indices("http://")
        .filter_map(|(at, _)| {
            let rest = &text[at + "http://".len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .unwrap_or(rest.len());
            let url = &rest[..end];
            url.find('/').map(|slash| url[slash..].to_owned())
        })
        .collect()
}

/// A compose value for a secret: only `${NAME}`, `${NAME:?message}` or `${NAME:-}`
/// interpolations carry it, never a literal or a non-empty default.
fn assert_interpolated_secret(value: &str, place: &str) {
    assert!(
        value.contains("${"),
        "{place}: secret given as a literal value"
    );
    for (at, _) in value.match_indices("${") {
        let inner = &value[at + 2..];
        let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
        if let Some((_, default)) = inner.split_once(":-") {
            assert!(
                default.is_empty(),
                "{place}: secret has a literal default {default:?}"
            );
        }
        if let Some((_, default)) = inner.split_once('-').filter(|_| !inner.contains(":?")) {
            assert!(
                default.is_empty(),
                "{place}: secret has a literal default {default:?}"
            );
        }
    }
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "ACCESS_KEY"]
        .iter()
        .any(|w| upper.contains(w))
}

#[test]
fn the_compose_file_sets_only_real_settings_pinned_images_and_no_literal_secrets() {
    let settings = settings();
    let routes = routes();
    let compose = &yaml_documents(&root().join("deploy/compose.yaml"))[0];
    let services = compose["services"].as_object().expect("services");
    let quire_image = format!("quire:{VERSION}");
    let mut quire_services = BTreeMap::new();
    for (name, service) in services {
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("service {name} names no image"));
        assert_pinned(image, &format!("compose service {name}"));
        let env = service["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (key, value) in &env {
            let value = value.as_str().unwrap_or_default();
            if looks_secret(key) || settings.secret.contains(key) {
                assert_interpolated_secret(value, &format!("compose {name}.{key}"));
            }
        }
        if image.starts_with("quire:") {
            assert_eq!(
                image, quire_image,
                "{name}: Quire's image is the package version"
            );
            for key in env.keys() {
                assert!(
                    settings.all.contains(key),
                    "compose service {name} sets {key}, which is no Quire setting"
                );
            }
            // Optional env files are not in git; their examples are, and say what they set.
            for file in service["env_file"].as_array().into_iter().flatten() {
                let path = file["path"].as_str().or(file.as_str()).unwrap_or_default();
                let example = root().join("deploy").join(format!("{path}.example"));
                for line in read(&example).lines() {
                    let Some((key, value)) =
                        line.split_once('=').filter(|_| !line.starts_with('#'))
                    else {
                        continue;
                    };
                    assert!(
                        settings.all.contains(key),
                        "{} sets {key}, which is no Quire setting",
                        example.display()
                    );
                    assert!(
                        !settings.secret.contains(key) || value.is_empty(),
                        "{} holds a literal {key}",
                        example.display()
                    );
                }
            }
            quire_services.insert(name.clone(), service.clone());
        }
        for (dependency, condition) in service["depends_on"].as_object().into_iter().flatten() {
            let condition = condition["condition"].as_str().unwrap_or_default();
            assert!(
                ["service_healthy", "service_completed_successfully"].contains(&condition),
                "{name} waits for {dependency} without a health condition"
            );
            if condition == "service_healthy" {
                assert!(
                    services[dependency]["healthcheck"]["test"].is_array(),
                    "{name} waits for {dependency} to be healthy, which has no healthcheck"
                );
            }
        }
    }

    let command = |name: &str| {
        quire_services[name]["command"][0]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(command("quire").as_deref(), Some("serve"));
    assert_eq!(command("quire-worker").as_deref(), Some("worker"));
    assert_eq!(command("migrate").as_deref(), Some("migrate"));
    assert_eq!(quire_services["quire-worker"]["deploy"]["replicas"], 2);
    for name in ["quire", "quire-worker"] {
        assert_eq!(
            quire_services[name]["depends_on"]["migrate"]["condition"],
            "service_completed_successfully",
            "{name} starts only after the one-shot migration"
        );
    }
    let health = quire_services["quire"]["healthcheck"]["test"].to_string();
    let paths = url_paths(&health);
    assert!(
        !paths.is_empty(),
        "quire's healthcheck calls no URL: {health}"
    );
    for path in paths {
        assert!(
            routes.contains(&path),
            "quire's healthcheck calls {path}, no route"
        );
    }
    for backing in ["postgres", "redis", "minio", "mailpit"] {
        assert!(
            services[backing]["healthcheck"]["test"].is_array(),
            "{backing} has no healthcheck"
        );
    }
    assert!(
        services["postgres"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres:16"))
    );
    assert!(
        services["redis"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("redis:7"))
    );
    assert_eq!(services["anythingllm"]["profiles"][0], "anythingllm");
}

/// What a Kubernetes container or pod template must satisfy, wherever it appears
/// (base resources and overlay patches alike).
fn check_containers(
    pod: &Value,
    place: &str,
    settings: &Settings,
    routes: &BTreeSet<String>,
    full: bool,
) {
    let containers = pod["containers"]
        .as_array()
        .into_iter()
        .chain(pod["initContainers"].as_array())
        .flatten();
    for container in containers {
        let name = container["name"].as_str().unwrap_or("?");
        let place = format!("{place} container {name}");
        if let Some(image) = container["image"].as_str() {
            // `quire` alone is pinned by the kustomization's `images` (checked below).
            if image != "quire" {
                assert_pinned(image, &place);
            }
        }
        for env in container["env"].as_array().into_iter().flatten() {
            let key = env["name"].as_str().unwrap_or_default();
            assert!(
                settings.all.contains(key),
                "{place} sets {key}, which is no Quire setting"
            );
            if settings.secret.contains(key) || looks_secret(key) {
                assert!(
                    env.get("value").is_none() && env["valueFrom"]["secretKeyRef"].is_object(),
                    "{place}: {key} must come from a secretKeyRef, not a literal"
                );
            }
        }
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            if let Some(path) = container[probe]["httpGet"]["path"].as_str() {
                assert!(
                    routes.contains(path),
                    "{place} {probe} calls {path}, no route"
                );
            }
        }
        if !full {
            continue;
        }
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    container["resources"][kind][resource].is_string(),
                    "{place} has no {kind}.{resource}"
                );
            }
        }
        let security = &container["securityContext"];
        assert_eq!(security["allowPrivilegeEscalation"], false, "{place}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{place}");
        assert_eq!(security["capabilities"]["drop"][0], "ALL", "{place}");
        let tmp = container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mountPath"] == "/tmp")
            .unwrap_or_else(|| panic!("{place}: no writable /tmp"));
        let volume = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == tmp["name"])
            .unwrap_or_else(|| panic!("{place}: /tmp volume missing"));
        assert!(
            volume["emptyDir"].is_object(),
            "{place}: /tmp is not an emptyDir"
        );
    }
    if full {
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{place}");
        assert!(
            pod["securityContext"]["runAsUser"]
                .as_u64()
                .is_some_and(|u| u > 0),
            "{place}: runAsUser"
        );
    }
}

#[test]
fn the_kubernetes_manifests_set_only_real_settings_probe_real_routes_and_hold_no_secret() {
    let settings = settings();
    let routes = routes();
    let dir = root().join("deploy/kubernetes");
    let mut kinds: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let files = yaml_files(&dir);
    assert!(files.len() > 10, "{files:?}");
    for path in &files {
        let place = path.strip_prefix(&dir).unwrap().display().to_string();
        let is_base = place.starts_with("base/");
        for doc in yaml_documents(path) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            match kind.as_str() {
                "Kustomization" => {
                    let quire = doc["images"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|i| i["name"] == "quire")
                        .unwrap_or_else(|| panic!("{place}: does not pin the quire image"));
                    assert_eq!(quire["newTag"], VERSION, "{place}: quire image tag");
                    for generator in doc["configMapGenerator"].as_array().into_iter().flatten() {
                        for literal in generator["literals"].as_array().into_iter().flatten() {
                            let literal = literal.as_str().unwrap_or_default();
                            let key = literal.split('=').next().unwrap_or_default();
                            assert!(
                                settings.all.contains(key),
                                "{place}: ConfigMap sets {key}, which is no Quire setting"
                            );
                            assert!(
                                !settings.secret.contains(key) && !looks_secret(key),
                                "{place}: {key} is a secret; it belongs in a Secret"
                            );
                        }
                    }
                }
                "Secret" => {
                    assert!(
                        doc.get("data").is_none() && doc.get("stringData").is_none(),
                        "{place}: a Secret with literal values"
                    );
                }
                "ConfigMap" => {
                    for key in doc["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k)
                    {
                        assert!(settings.all.contains(key), "{place}: {key} is no setting");
                        assert!(!settings.secret.contains(key), "{place}: secret {key}");
                    }
                }
                "ServiceMonitor" => {
                    for endpoint in doc["spec"]["endpoints"].as_array().into_iter().flatten() {
                        let path = endpoint["path"].as_str().unwrap_or_default();
                        assert!(routes.contains(path), "{place}: scrapes {path}, no route");
                    }
                }
                _ => {}
            }
            let pod = &doc["spec"]["template"]["spec"];
            if pod.is_object() {
                check_containers(pod, &place, &settings, &routes, is_base);
            }
            if is_base {
                kinds.entry(kind).or_default().push(doc);
            }
        }
    }

    for kind in [
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(kinds.contains_key(kind), "the base has no {kind}");
    }
    let deployment = |name: &str| {
        kinds["Deployment"]
            .iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Deployment {name}"))
            .clone()
    };
    let serve = deployment("quire-serve");
    let container = &serve["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][0], "serve");
    for (probe, path) in [
        ("startupProbe", "/api/v1/health"),
        ("livenessProbe", "/api/v1/health"),
        ("readinessProbe", "/api/v1/health/detailed"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "serve {probe}");
    }
    assert_eq!(
        deployment("quire-worker")["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "worker"
    );
    assert_eq!(
        kinds["Job"][0]["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "migrate"
    );
    // Every secret setting the workloads need arrives from the Secret.
    let env: BTreeSet<String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect();
    for needed in ["DATABASE_URL", "SECRET_KEY", "S3_SECRET_ACCESS_KEY"] {
        assert!(env.contains(needed), "serve gets no {needed}");
    }

    let rules = yaml_documents(&root().join("deploy/monitoring/alerts.yaml"));
    assert_eq!(
        kinds["PrometheusRule"][0]["spec"], rules[0],
        "kubernetes/base/prometheusrule.yaml differs from deploy/monitoring/alerts.yaml"
    );
}

#[test]
fn the_dockerfile_pins_its_images_runs_as_a_user_and_checks_a_real_route() {
    let settings = settings();
    let routes = routes();
    let text = read(&root().join("Dockerfile")).replace("\\\n", " ");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let args: BTreeMap<&str, &str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .collect();
    let mut stages = BTreeSet::new();
    let mut runtime = Vec::new();
    let mut in_runtime = false;
    for line in &lines {
        if let Some(from) = line.strip_prefix("FROM ") {
            let mut words = from.split_whitespace();
            let image = words.next().unwrap_or_default();
            let image = image
                .strip_prefix("${")
                .and_then(|a| a.strip_suffix('}'))
                .map(|arg| {
                    *args
                        .get(arg)
                        .unwrap_or_else(|| panic!("ARG {arg} has no default"))
                })
                .unwrap_or(image);
            if !stages.contains(image) {
                assert_pinned(image, "Dockerfile FROM");
            }
            let name = words.nth(1).unwrap_or_default();
            stages.insert(name);
            in_runtime = name == "runtime";
            continue;
        }
        if in_runtime {
            runtime.push(*line);
        }
    }
    for stage in ["planner", "builder", "runtime", "full"] {
        assert!(stages.contains(stage), "no {stage} stage");
    }
    let instruction = |name: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .collect()
    };
    let env: BTreeMap<&str, &str> = instruction("ENV")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .collect();
    for key in env.keys() {
        assert!(
            settings.all.contains(*key),
            "Dockerfile ENV {key} is no setting"
        );
    }
    assert_eq!(env.get("HOST"), Some(&"0.0.0.0"));
    assert_eq!(instruction("EXPOSE"), [*env.get("PORT").unwrap_or(&"8000")]);
    assert_eq!(instruction("EXPOSE"), ["8000"]);
    let user = instruction("USER");
    let (uid, gid) = user[0].split_once(':').expect("USER uid:gid");
    assert!(uid.parse::<u32>().is_ok_and(|u| u > 0), "USER {uid}");
    assert!(gid.parse::<u32>().is_ok(), "USER group {gid}");
    assert_eq!(instruction("STOPSIGNAL"), ["SIGTERM"]);
    assert_eq!(instruction("CMD"), [r#"["serve"]"#]);
    let healthcheck = instruction("HEALTHCHECK");
    let paths = url_paths(&healthcheck[0].replace("${PORT}", "8000"));
    assert_eq!(paths, ["/api/v1/health"]);
    assert!(routes.contains(&paths[0]));
    assert_eq!(args.get("QUIRE_VERSION"), Some(&VERSION));
    let install = runtime
        .iter()
        .find(|l| l.contains("apt-get install"))
        .expect("the runtime installs packages");
    for package in ["poppler-utils", "mupdf-tools"] {
        assert!(install.contains(package), "runtime lacks {package}");
    }
    assert!(text.contains("tesseract-ocr tesseract-ocr-eng libreoffice-calc"));
    assert!(text.contains("cargo chef cook --release --locked"));
    assert!(text.contains("RUN cargo build --release --locked --bin quire"));
}

/// The metric names the code records: the string after each `counter!(`, `gauge!(` and
/// `histogram!(` in src/ and crates/ (histograms also as `_bucket`, `_sum`, `_count`).
fn exported_metrics() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    walk(&root().join("crates"), &mut files);
    let mut names = BTreeSet::new();
    for file in files {
        let text = read(&file);
        for macro_name in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(macro_name) {
                let rest = text[at + macro_name.len()..].trim_start();
                let Some(rest) = rest.strip_prefix('"') else {
                    continue;
                };
                let name = &rest[..rest.find('"').unwrap_or(0)];
                names.insert(name.to_owned());
                if macro_name == "histogram!(" {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
            }
        }
    }
    names
}

/// Metric selectors of a PromQL expression: identifiers written right before `{`.
fn selectors(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    for (at, _) in expr.match_indices('{') {
        let start = expr[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map(|i| i + 1)
            .unwrap_or(0);
        if start < at && !bytes[start].is_ascii_digit() {
            out.push(expr[start..at].to_owned());
        }
    }
    out
}

#[test]
fn alerts_and_the_dashboard_name_only_metrics_quire_records() {
    let exported = exported_metrics();
    for needed in [
        "api_requests_total",
        "job_queue_depth",
        "anythingllm_requests_total",
    ] {
        assert!(exported.contains(needed), "{exported:?}");
    }
    let mut expressions = Vec::new();
    let rules = &yaml_documents(&root().join("deploy/monitoring/alerts.yaml"))[0];
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            expressions.push((
                format!("alert {}", rule["alert"]),
                rule["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let dashboard: Value = serde_json::from_str(&read(
        &root().join("deploy/monitoring/grafana-dashboard.json"),
    ))
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            expressions.push((
                format!("panel {}", panel["title"]),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(expressions.len() > 10);
    let mut used = BTreeSet::new();
    for (place, expr) in &expressions {
        let names = selectors(expr);
        assert!(!names.is_empty(), "{place}: no metric selector in {expr}");
        for name in names {
            assert!(
                exported.contains(&name),
                "{place} uses {name}, which Quire does not record"
            );
            used.insert(
                name.trim_end_matches("_bucket")
                    .trim_end_matches("_count")
                    .to_owned(),
            );
        }
    }
    for family in [
        "api_requests_total",
        "api_request_duration_seconds",
        "active_jobs_total",
        "job_queue_depth",
        "job_processing_duration_seconds",
        "anythingllm_requests_total",
        "questions_asked_total",
    ] {
        assert!(
            used.contains(family),
            "the dashboard and alerts never show {family}"
        );
    }
}

#[test]
fn the_runtime_stage_script_is_run_by_ci() {
    let ci = read(&root().join(".ci/run"));
    assert!(
        ci.contains("deploy/runtime-stage.sh"),
        ".ci/run does not run it"
    );
}

fn quire() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_quire"));
    // Only what each test sets: a developer's environment must not leak in.
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

const KEY: &str = "a-secret-key-long-enough-for-validation-0123456789";

#[test]
fn production_without_a_secret_key_is_refused_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = quire()
        .arg("migrate")
        .env("QUIRE_DATA_DIR", dir.path())
        .env("ENVIRONMENT", "production")
        .env("ALLOW_LOCAL_STORAGE", "true")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("SECRET_KEY"), "{stderr}");
    // Development generates one into the data directory instead.
    let output = quire()
        .arg("migrate")
        .env("QUIRE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn production_refuses_local_storage_unless_it_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |allow: Option<&str>| {
        let mut cmd = quire();
        cmd.arg("migrate")
            .env("QUIRE_DATA_DIR", dir.path())
            .env("ENVIRONMENT", "production")
            .env("SECRET_KEY", KEY);
        if let Some(allow) = allow {
            cmd.env("ALLOW_LOCAL_STORAGE", allow);
        }
        cmd.output().unwrap()
    };
    let refused = run(None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("STORAGE_TYPE") && stderr.contains("ALLOW_LOCAL_STORAGE"),
        "{stderr}"
    );
    let allowed = run(Some("true"));
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
}

/// `quire settings --format values`: `NAME=value  # origin` per setting.
fn values(configure: impl FnOnce(&mut std::process::Command)) -> BTreeMap<String, String> {
    let mut cmd = quire();
    cmd.args(["settings", "--format", "values"]);
    configure(&mut cmd);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_production_preset_fills_unset_settings_and_an_explicit_variable_beats_it() {
    let production = |cmd: &mut std::process::Command| {
        cmd.env("ENVIRONMENT", "production")
            .env("SECRET_KEY", KEY)
            .env("ALLOW_LOCAL_STORAGE", "true");
    };
    let preset = values(production);
    assert_eq!(preset["JWT_EXPIRE_MINUTES"], "15  # ENVIRONMENT=production");
    assert_eq!(
        preset["RATE_LIMIT_REQUESTS"],
        "1000  # ENVIRONMENT=production"
    );
    assert_eq!(
        preset["RATE_LIMIT_WINDOW"],
        "3600  # ENVIRONMENT=production"
    );
    assert_eq!(preset["LOG_FORMAT"], "json  # ENVIRONMENT=production");
    assert_eq!(preset["LOG_LEVEL"], "info  # ENVIRONMENT=production");
    assert_eq!(preset["HOST"], "127.0.0.1  # ENVIRONMENT=production");
    assert_eq!(preset["SECRET_KEY"], "(set)  # environment");
    assert!(
        !preset.values().any(|v| v.contains(KEY)),
        "a secret was printed"
    );

    let explicit = values(|cmd| {
        production(cmd);
        cmd.env("JWT_EXPIRE_MINUTES", "45")
            .env("LOG_FORMAT", "text")
            .env("HOST", "0.0.0.0")
            .arg("--rate-limit-requests=77");
    });
    assert_eq!(explicit["JWT_EXPIRE_MINUTES"], "45  # environment");
    assert_eq!(explicit["LOG_FORMAT"], "text  # environment");
    assert_eq!(explicit["HOST"], "0.0.0.0  # environment");
    assert_eq!(explicit["RATE_LIMIT_REQUESTS"], "77  # flag");
    assert_eq!(explicit["LOG_LEVEL"], "info  # ENVIRONMENT=production");

    let development = values(|_| {});
    assert_eq!(development["ENVIRONMENT"], "development  # default");
    assert_eq!(development["LOG_FORMAT"], "text  # ENVIRONMENT=development");
    assert_eq!(development["JWT_EXPIRE_MINUTES"], "60  # default");
    assert_eq!(development["SECRET_KEY"], "(unset)  # default");
}

// --- API-Version -------------------------------------------------------------------

use crate::helpers::{TestApp, assert_error_envelope};
use crate::on_both_databases;

on_both_databases!(
    an_unsupported_api_version_is_400_listing_v1_and_every_answer_names_v1,
    the_openapi_document_declares_the_api_version_header,
);

async fn an_unsupported_api_version_is_400_listing_v1_and_every_answer_names_v1(app: TestApp) {
    let org = app.create_org("versions").await;
    let me = |version: Option<&str>| {
        let mut request = app.authed(reqwest::Method::GET, "/api/v1/auth/me", &org.admin_key);
        if let Some(version) = version {
            request = request.header("API-Version", version);
        }
        request.send()
    };
    for accepted in [None, Some("v1"), Some("1"), Some("1.0")] {
        let response = me(accepted).await.unwrap();
        assert_eq!(response.status(), 200, "{accepted:?}");
        assert_eq!(response.headers()["api-version"], "v1", "{accepted:?}");
    }
    for refused in ["v9", "2", "1.1"] {
        let response = me(Some(refused)).await.unwrap();
        assert_eq!(response.headers()["api-version"], "v1");
        let body = assert_error_envelope(response, 400, "unsupported_api_version").await;
        assert_eq!(
            body["details"]["supported"],
            serde_json::json!(["v1"]),
            "{body}"
        );
        assert_eq!(body["details"]["requested"], refused, "{body}");
    }
    // Refused before any route runs: an unknown route, too, is a 400 for a bad version.
    let response = app
        .client
        .get(app.url("/api/v1/no-such-route"))
        .header("API-Version", "v9")
        .send()
        .await
        .unwrap();
    assert_error_envelope(response, 400, "unsupported_api_version").await;
    // Framework-made answers carry the header too.
    for path in ["/api/v1/no-such-route", "/api/v1/health", "/openapi.json"] {
        let response = app.get(path).await;
        assert_eq!(response.headers()["api-version"], "v1", "{path}");
    }
}

async fn the_openapi_document_declares_the_api_version_header(app: TestApp) {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 10);
    for (path, item) in paths {
        let methods = [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ];
        for (method, operation) in item
            .as_object()
            .unwrap()
            .iter()
            .filter(|(m, _)| methods.contains(&m.as_str()))
        {
            let Some(parameters) = operation["parameters"].as_array() else {
                panic!("{method} {path} declares no parameters");
            };
            let declared = parameters
                .iter()
                .find(|p| p["name"] == "API-Version")
                .unwrap_or_else(|| panic!("{method} {path} does not declare API-Version"));
            assert_eq!(declared["in"], "header");
            assert_eq!(declared["required"], false);
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    response["headers"]["API-Version"].is_object(),
                    "{method} {path} {status} does not declare the API-Version header"
                );
            }
        }
    }
}

// --- Links to originals -------------------------------------------------------------

use crate::helpers::{Backend, s3_storage_args};

on_both_databases!(
    a_local_signed_link_downloads_until_it_expires_and_not_once_altered,
    link_lifetimes_outside_one_second_to_seven_days_are_422,
);

/// A document created from content, and its original as the authenticated download
/// serves it.
async fn document_with_original(app: &TestApp, org: &crate::helpers::TestOrg) -> (String, Vec<u8>) {
    let response = app
        .authed(reqwest::Method::POST, "/api/v1/documents", &org.admin_key)
        .json(&serde_json::json!({ "title": "Terms", "content": "Payment within 30 days of delivery." }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let original = app
        .authed(
            reqwest::Method::GET,
            &format!("/api/v1/documents/{id}/download"),
            &org.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(original.status(), 200);
    (id, original.bytes().await.unwrap().to_vec())
}

async fn link(
    app: &TestApp,
    org: &crate::helpers::TestOrg,
    id: &str,
    query: &str,
) -> reqwest::Response {
    app.authed(
        reqwest::Method::GET,
        &format!("/api/v1/documents/{id}/url{query}"),
        &org.admin_key,
    )
    .send()
    .await
    .unwrap()
}

async fn a_local_signed_link_downloads_until_it_expires_and_not_once_altered(app: TestApp) {
    let org = app.create_org("links").await;
    let (id, original) = document_with_original(&app, &org).await;
    let response = link(&app, &org, &id, "?expires_in=60").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["kind"], "quire_signed", "{body}");
    assert_eq!(body["expires_in"], 60);
    let url = body["url"].as_str().unwrap().to_owned();

    // No credentials: the link is enough.
    let download = app.get(&url).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().to_vec(), original);

    // One character changed anywhere that is signed: 403.
    let signature_at = url.find("signature=").unwrap() + "signature=".len();
    let mut altered = url.clone().into_bytes();
    altered[signature_at] = if altered[signature_at] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let altered = String::from_utf8(altered).unwrap();
    assert_error_envelope(app.get(&altered).await, 403, "forbidden").await;
    let later = url.replace("&expires=", "&expires=9");
    assert_error_envelope(app.get(&later).await, 403, "forbidden").await;
    let other_org = app.create_org("intruder").await;
    let moved = url.replace(&org.org_id, &other_org.org_id);
    assert_error_envelope(app.get(&moved).await, 403, "forbidden").await;

    // A correctly signed link whose time has passed: 403 as well.
    let past = now_secs() - 1;
    let signature =
        quire::documents::signed_url::sign(&app.state.secret_key, &org.org_id, &id, past);
    let expired = format!(
        "/api/v1/documents/{id}/signed?org={}&expires={past}&signature={signature}",
        org.org_id
    );
    let body = assert_error_envelope(app.get(&expired).await, 403, "forbidden").await;
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // ... and the same signature for a time still ahead works, so only time refused it.
    let ahead = now_secs() + 30;
    let signature =
        quire::documents::signed_url::sign(&app.state.secret_key, &org.org_id, &id, ahead);
    let fresh = format!(
        "/api/v1/documents/{id}/signed?org={}&expires={ahead}&signature={signature}",
        org.org_id
    );
    assert_eq!(app.get(&fresh).await.status(), 200);
}

async fn link_lifetimes_outside_one_second_to_seven_days_are_422(app: TestApp) {
    let org = app.create_org("lifetimes").await;
    let (id, _) = document_with_original(&app, &org).await;
    for bad in ["0", "-5", "604801"] {
        let body = assert_error_envelope(
            link(&app, &org, &id, &format!("?expires_in={bad}")).await,
            422,
            "validation_error",
        )
        .await;
        assert_eq!(body["details"]["field"], "expires_in", "{bad}: {body}");
    }
    for (query, expected) in [
        ("?expires_in=1", 1),
        ("?expires_in=604800", 604800),
        ("", 3600),
    ] {
        let response = link(&app, &org, &id, query).await;
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["expires_in"],
            expected
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_s3_link_downloads_the_original_from_the_store() {
    let Some(args) = s3_storage_args().await else {
        return;
    };
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = TestApp::spawn_with(Backend::Sqlite, &refs).await.unwrap();
    let org = app.create_org("presigned").await;
    let (id, original) = document_with_original(&app, &org).await;
    let body: Value = link(&app, &org, &id, "?expires_in=120")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["kind"], "s3_presigned", "{body}");
    let url = body["url"].as_str().unwrap();
    let endpoint = std::env::var("QUIRE_TEST_S3_ENDPOINT").unwrap();
    assert!(
        url.starts_with(&endpoint),
        "{url} is not on the store {endpoint}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    // Straight from the store, with no credentials but the URL's.
    let download = reqwest::get(url).await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().to_vec(), original);
}

fn now_secs() -> i64 {
    quire::time::now_ms() / 1000
}
