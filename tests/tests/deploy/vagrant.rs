//! The Vagrantfile: `vagrant validate` accepts it, and the Vagrant lab uses
//! the namespace lab's addresses.

use std::path::Path;
use std::process::Output;

use cordon_lab::addresses::{
    GARDEN_V4, GARDEN_V6, PORTAL_V4, PORTAL_V6, UPLINK_GW_V4, UPLINK_GW_V6, UPLINK_NET_V4,
    UPLINK_NET_V6, WEB_V4, subscriber_gw_v4, subscriber_gw_v6, subscriber_v4, subscriber_v6,
};

use super::common::repo::{TempDir, read, root, run, text};
use super::{rel, script_files};

/// `vagrant validate`, away from the user's ~/.vagrant.d and without leaving
/// a `.vagrant/` in the repo. Provider blocks are not validated: neither
/// VirtualBox nor libvirt is expected where the tests run.
fn vagrant_validate(extra_env: &[(&str, &Path)]) -> Output {
    let home = TempDir::new("vagrant-home");
    let dot = TempDir::new("vagrant-dot");
    run(
        "vagrant",
        "apt install vagrant (Debian's package; no provider is needed to validate)",
        |c| {
            c.current_dir(root().join("vagrant"))
                .args(["validate", "--ignore-provider", "--no-color"])
                .env("VAGRANT_HOME", home.path())
                .env("VAGRANT_DOTFILE_PATH", dot.path())
                .env("VAGRANT_CHECKPOINT_DISABLE", "1")
                .env_remove("VAGRANT_CWD")
                .env_remove("VAGRANT_VAGRANTFILE")
                .env_remove("CORDON_BINARIES")
                .env_remove("CORDON_BOX");
            for (k, v) in extra_env {
                c.env(k, v);
            }
        },
    )
}

#[test]
fn vagrant_validate_accepts_the_vagrantfile() {
    let out = vagrant_validate(&[]);
    assert!(
        out.status.success() && text(&out).contains("validated successfully"),
        "vagrant validate:\n{}",
        text(&out)
    );
    // The variant that installs prebuilt binaries instead of building.
    let bin = TempDir::new("vagrant-bin");
    let out = vagrant_validate(&[("CORDON_BINARIES", bin.path())]);
    assert!(
        out.status.success() && text(&out).contains("validated successfully"),
        "CORDON_BINARIES=DIR vagrant validate:\n{}",
        text(&out)
    );
    assert!(
        !root().join("vagrant/.vagrant").exists(),
        "vagrant validate left vagrant/.vagrant behind"
    );
}

#[test]
fn the_vagrant_lab_uses_the_namespace_labs_addresses() {
    let mut all = read("vagrant/Vagrantfile");
    for path in script_files() {
        if rel(&path).starts_with("vagrant/provision/") {
            all.push_str(&read(&rel(&path)));
        }
    }
    let wanted = [
        subscriber_v4(0).to_string(),
        subscriber_gw_v4(0).to_string(),
        subscriber_v6(0).to_string(),
        subscriber_gw_v6(0).to_string(),
        UPLINK_GW_V4.to_string(),
        UPLINK_NET_V4.to_string(),
        UPLINK_GW_V6.to_string(),
        UPLINK_NET_V6.to_string(),
        PORTAL_V4.to_string(),
        PORTAL_V6.to_string(),
        GARDEN_V4.to_string(),
        GARDEN_V6.to_string(),
        WEB_V4.to_string(),
    ];
    for addr in wanted {
        assert!(
            all.contains(&addr),
            "{addr} (tests/src/addresses.rs) appears nowhere in vagrant/"
        );
    }
    for machine in ["subscriber", "gateway", "internet"] {
        assert!(
            all.contains(&format!("config.vm.define \"{machine}\"")),
            "the Vagrantfile defines no machine {machine}"
        );
    }
    assert!(all.contains("debian/bookworm64"), "the box is Debian 12");
}
