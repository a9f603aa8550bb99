//! What the config's integration tests share.

/// The smallest config the loader accepts: everything else defaulted.
pub const MINIMAL: &str = "\
subscribers:
  prefixes: [100.64.0.0/16, 2001:db8:1000::/36]
interfaces:
  downlink: [sub0]
  uplink: [eth0]
walled_garden:
  resolvers: [192.0.2.53]
portal:
  public_url: http://portal.example/
";
