use super::*;

/// A scratch folder with a base scenario in it.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peershare-exp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("base.toml"),
        "duration = \"5s\"\n\n[[groups]]\nname = \"hub\"\ncount = 1\nplugin = \"kademlia\"\n\n[[groups]]\nname = \"peers\"\ncount = 10\nplugin = \"kademlia\"\nconfig = { k = 20 }\n\n[network]\nloss = 0.0\n",
    )
    .unwrap();
    dir
}

fn parse(dir: &Path, text: &str) -> Result<Experiment, ExperimentError> {
    Experiment::parse(text, "exp.toml", dir, "exp")
}

#[test]
fn plugins_and_factors_make_a_full_grid_in_order() {
    let dir = folder("grid");
    let text = "scenario = \"base.toml\"\nseeds = 3\n\n[[plugins]]\nlabel = \"kad\"\nplugin = \"kademlia\"\n\n[[plugins]]\nplugin = \"chord\"\nconfig = { successors = 4 }\n\n[[factors]]\npath = \"groups.peers.count\"\nname = \"N\"\nvalues = [10, 20]\n";
    let exp = parse(&dir, text).unwrap();
    let labels: Vec<&str> = exp.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(labels, ["kad, N=10", "kad, N=20", "chord, N=10", "chord, N=20"]);
    assert_eq!(exp.factors, ["plugin", "N"]);
    assert_eq!(exp.variants[3].levels, [("plugin".to_string(), "chord".to_string()), ("N".to_string(), "20".to_string())]);
    assert_eq!(exp.seeds, [1, 2, 3]);
    assert_eq!(exp.baseline, "kad, N=10");
    assert_eq!(exp.runs().len(), 12);
    let text = std::fs::read_to_string(dir.join("base.toml")).unwrap();
    let chord = variant_scenario(&dir.join("base.toml"), &text, &exp.variants[3].overrides).unwrap();
    assert_eq!(chord.node_count(), 21, "one hub and 20 peers");
}

#[test]
fn an_edit_keeps_the_scenario_file_as_it_was_elsewhere() {
    let dir = folder("edit");
    let text = std::fs::read_to_string(dir.join("base.toml")).unwrap();
    let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
    let mut hits = 0;
    let seg = parse_path("groups.*.config.alpha").unwrap();
    set_path(doc.as_item_mut(), &seg, &"3".parse().unwrap(), "", &mut hits).unwrap();
    assert_eq!(hits, 2, "both groups");
    let edited = doc.to_string();
    assert!(edited.contains("config = { k = 20 , alpha = 3 }") || edited.contains("config = { k = 20, alpha = 3 }"), "{edited}");
    assert!(edited.contains("plugin = \"kademlia\"\nconfig = { alpha = 3 }\n"), "the hub had no config: {edited}");
    assert_eq!(edited.lines().count(), text.lines().count() + 1, "the hub's new config is the only new line: {edited}");
    let mut hits = 0;
    set_path(doc.as_item_mut(), &parse_path("network.loss").unwrap(), &"0.05".parse().unwrap(), "", &mut hits).unwrap();
    set_path(doc.as_item_mut(), &parse_path("groups[1].count").unwrap(), &"7".parse().unwrap(), "", &mut hits).unwrap();
    let s = Scenario::parse(&doc.to_string(), "x", &dir).unwrap();
    assert_eq!(s.node_count(), 8);
}

#[test]
fn bad_paths_and_values_name_the_experiment_line_and_field() {
    let dir = folder("errors");
    let head = "scenario = \"base.toml\"\nseeds = 2\n\n[[factors]]\n";
    let e = parse(&dir, &format!("{head}path = \"groups.servers.count\"\nvalues = [1]\n")).unwrap_err().to_string();
    assert!(
        e.contains("exp.toml, line 5, field `factors[0].path`") && e.contains("no entry named \"servers\"") && e.contains("hub, peers"),
        "{e}"
    );
    let e = parse(&dir, &format!("{head}path = \"network.loss\"\nvalues = [0.1,\n  2.0]\n")).unwrap_err().to_string();
    assert!(e.contains("line 7, field `factors[0].values[1]`") && e.contains("network.loss") && e.contains("within [0, 1]"), "{e}");
    let e = parse(&dir, &format!("{head}path = \"groups.peers.confg.k\"\nvalues = [3]\n")).unwrap_err().to_string();
    assert!(e.contains("factors[0].values[0]") && e.contains("confg"), "{e}");
    let e = parse(&dir, &format!("{head}path = \"groups[9].count\"\nvalues = [3]\n")).unwrap_err().to_string();
    assert!(e.contains("factors[0].path") && e.contains("no [9]"), "{e}");
    let e = parse(&dir, &format!("{head}path = \"groups..count\"\nvalues = [3]\n")).unwrap_err().to_string();
    assert!(e.contains("line 5") && e.contains("empty part"), "{e}");
    let e = parse(&dir, &format!("{head}path = \"duration\"\n")).unwrap_err().to_string();
    assert!(e.contains("line 4, field `factors[0]`") && e.contains("values"), "{e}");
    let e =
        parse(&dir, "scenario = \"base.toml\"\nseeds = 0\n[[factors]]\npath = \"duration\"\nvalues = [\"1s\"]\n").unwrap_err().to_string();
    assert!(e.contains("line 2, field `seeds`"), "{e}");
    let e = parse(&dir, "scenario = \"base.toml\"\nseeds = [1, 2, 1]\n[[factors]]\npath = \"duration\"\nvalues = [\"1s\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("listed twice"), "{e}");
    let e =
        parse(&dir, "scenario = \"nope.toml\"\nseeds = 1\n[[factors]]\npath = \"duration\"\nvalues = [\"1s\"]\n").unwrap_err().to_string();
    assert!(e.contains("line 1, field `scenario`") && e.contains("nope.toml"), "{e}");
    let e = parse(&dir, "scenario = \"base.toml\"\nseeds = 1\n\n[[plugins]]\nplugin = \"kademlya\"\n").unwrap_err().to_string();
    assert!(e.contains("line 5, field `plugins[0].plugin`") && e.contains("kademlia"), "{e}");
    let e = parse(&dir, "scenario = \"base.toml\"\nseeds = 1\nbaseline = \"x\"\n[[factors]]\npath = \"duration\"\nvalues = [\"1s\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3, field `baseline`") && e.contains("duration=1s"), "{e}");
    let e = parse(&dir, "scenario = \"base.toml\"\nseeds = 1\nbogus = 2\n").unwrap_err().to_string();
    assert!(e.contains("exp.toml") && e.contains("bogus"), "{e}");
    let e = parse(&dir, "scenario = \"base.toml\"\nseeds = 1\n[[factors]]\npath = \"duration\"\nvalues = [\"1s\"]\n[[derived]]\nname = \"x\"\nexpr = \"a +\"\n").unwrap_err().to_string();
    assert!(e.contains("line 8, field `derived[0].expr`"), "{e}");
}

#[test]
fn ranges_spread_values_linearly_or_logarithmically() {
    let dir = folder("range");
    let exp = parse(&dir, "scenario = \"base.toml\"\nseeds = 1\n[[factors]]\nname = \"N\"\npath = \"groups.peers.count\"\nrange = { from = 10, to = 1000, steps = 3, scale = \"log\" }\n").unwrap();
    let levels: Vec<&str> = exp.variants.iter().map(|v| v.levels[0].1.as_str()).collect();
    assert_eq!(levels, ["10", "100", "1000"]);
    let exp = parse(
        &dir,
        "scenario = \"base.toml\"\nseeds = 1\n[[factors]]\npath = \"network.loss\"\nrange = { from = 0.0, to = 0.1, steps = 3 }\n",
    )
    .unwrap();
    let levels: Vec<&str> = exp.variants.iter().map(|v| v.levels[0].1.as_str()).collect();
    assert_eq!(levels, ["0.0", "0.05", "0.1"]);
    assert_eq!(exp.variants[1].label, "loss=0.05");
}

#[test]
fn the_compare_shorthand_is_one_variant_per_plugin() {
    let dir = folder("compare");
    let exp =
        Experiment::plugins_head_to_head(&dir.join("base.toml"), &["kademlia".into(), "chord".into()], 5, &["lookup.success_rate".into()])
            .unwrap();
    assert_eq!(exp.variants.iter().map(|v| v.label.as_str()).collect::<Vec<_>>(), ["kademlia", "chord"]);
    assert_eq!((exp.seeds.len(), exp.metrics.len()), (5, 1));
    assert!(exp.variants[1].overrides.iter().any(|o| o.path == "groups.*.plugin" && o.value == "\"chord\""));
}

#[test]
fn toml_literals_read_back_as_the_same_value() {
    let table: toml::Table = toml::from_str("a = \"x\\\"y\"\nb = 2\nc = 1.5\nd = [1, 2]\ne = { f = true, \"g h\" = 3.0 }").unwrap();
    for (k, v) in &table {
        let back: toml::Table = toml::from_str(&format!("v = {}", toml_literal(v))).unwrap();
        assert_eq!(&back["v"], v, "{k}");
    }
}
