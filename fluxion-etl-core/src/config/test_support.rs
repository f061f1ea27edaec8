//! The stores of the unit tests' configuration documents, written once: the layers above build
//! their documents from these, so every test reads the same KLK store and the same CEDI.

/// A KLK store: its `[[stores]]` table and its `[stores.source]`.
pub(crate) fn klk_store(id: &str, name: &str, branch: &str, warehouse: &str) -> String {
    format!(
        "[[stores]]\nid = \"{id}\"\nname = \"{name}\"\n[stores.source]\nsystem = \"klk\"\n\
         branch = \"{branch}\"\nwarehouse = \"{warehouse}\"\n"
    )
}

/// The first KLK store of the test documents (`tienda_01`, PERIFERICO).
pub(crate) fn periferico() -> String {
    klk_store("tienda_01", "PERIFERICO", "SUC001", "APP-TPF")
}

/// A CEDI on Stellar with a local and a VPN (production) address; `source` holds the lines of
/// its source after the host (port, depot, …).
pub(crate) fn stellar_cedi(id: &str, name: &str, source: &str) -> String {
    format!(
        "[[stores]]\nid = \"{id}\"\nname = \"{name}\"\nkind = \"cedi\"\n[stores.source]\n\
         system = \"stellar\"\nhost = {{ local = \"127.0.0.1\", production = \"192.168.20.12\" }}\n\
         {source}"
    )
}
