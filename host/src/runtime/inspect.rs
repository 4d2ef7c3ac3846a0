//! Whether the host would load a component, and why not: each import and
//! whether the host provides it (with a hint when not), and whether its
//! exports are the `app` world. One inspection serves a load error (the
//! app's health `problem`, the log) and `keruj-host check`.
//!
//! wasmtime's linker stops at the first import it cannot satisfy. To judge
//! every import, a copy of the linker gets a trapping stand-in for each
//! import found missing, and is asked again, until the rest are satisfied.

use std::collections::HashSet;

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType};

use super::hints;
use crate::bindings::{AppPre, CONTRACT_VERSION};

/// What the host makes of a component.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Every import, in the component's order.
    pub imports: Vec<Import>,
    /// The names the component exports.
    pub exports: Vec<String>,
    /// `Err` says why the exports are not the `keruj:plugin/app` world.
    pub world: Result<(), String>,
    /// The `keruj:plugin` version it was built against, read from its
    /// imports (every app imports at least `types`); the current one when
    /// it imports none.
    pub contract: String,
}

/// One import of a component.
#[derive(Debug, Clone)]
pub struct Import {
    pub name: String,
    /// `None` when the host provides it.
    pub missing: Option<Missing>,
}

/// Why the host cannot satisfy an import, and what to do.
#[derive(Debug, Clone)]
pub struct Missing {
    /// wasmtime's reason, such as `resource implementation is missing`.
    pub cause: String,
    pub hint: String,
}

/// The world of `version`, as `check` names it.
pub fn app_world(version: &str) -> String {
    format!("keruj:plugin/app@{version}")
}

/// The `keruj:plugin` version of a component's imports (the newest, should
/// it mix them), or the current one if it imports none.
pub fn contract_of<'a>(imports: impl IntoIterator<Item = &'a str>) -> String {
    imports
        .into_iter()
        .filter_map(|name| name.strip_prefix("keruj:plugin/")?.split_once('@'))
        .map(|(_, version)| version)
        .max_by_key(|version| {
            let parts: Vec<u64> = version.split('.').filter_map(|p| p.parse().ok()).collect();
            parts
        })
        .unwrap_or(CONTRACT_VERSION)
        .to_owned()
}

impl Inspection {
    /// Whether the host would load it.
    pub fn loadable(&self) -> bool {
        self.world.is_ok() && self.imports.iter().all(|import| import.missing.is_none())
    }

    /// What is wrong and what to do, in one line, if anything is.
    pub fn problem(&self) -> Option<String> {
        let mut problems: Vec<String> = self
            .imports
            .iter()
            .filter_map(|import| {
                let missing = import.missing.as_ref()?;
                Some(format!(
                    "it imports `{}`, which this host does not provide ({}): {}",
                    import.name, missing.cause, missing.hint
                ))
            })
            .collect();
        if let Err(why) = &self.world {
            problems.push(format!(
                "its exports are not the {} world: {why}",
                app_world(&self.contract)
            ));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// Exports the host ignores (a `wasi:http` server side, say).
    pub fn ignored_exports(&self) -> impl Iterator<Item = &str> {
        self.exports
            .iter()
            .map(String::as_str)
            .filter(|name| !matches!(*name, "handle-event" | "health" | "event" | "outcome"))
    }
}

/// Inspects `component` against `linker`, the host's.
pub fn inspect<T: 'static>(
    engine: &Engine,
    linker: &Linker<T>,
    component: &Component,
) -> Inspection {
    let ty = component.component_type();
    let items: Vec<(String, ComponentItem)> = ty
        .imports(engine)
        .map(|(name, item)| (name.to_owned(), item.ty))
        .collect();
    let exports = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let contract = contract_of(items.iter().map(|(name, _)| name.as_str()));
    let (missing, probe) = find_missing(engine, linker, component, &items);
    let world = probe
        .instantiate_pre(component)
        .and_then(AppPre::new)
        .map(|_| ())
        .map_err(|error| format!("{error:#}"));
    let imports = items
        .into_iter()
        .map(|(name, _)| {
            let missing = missing
                .iter()
                .find(|(missing, _)| *missing == name)
                .map(|(_, cause)| Missing {
                    cause: cause.clone(),
                    hint: hints::for_import(&name),
                });
            Import { name, missing }
        })
        .collect();
    Inspection {
        imports,
        exports,
        world,
        contract,
    }
}

/// The imports `linker` cannot satisfy, each with wasmtime's reason, and a
/// copy of the linker with stand-ins for them (to check the exports with).
fn find_missing<T: 'static>(
    engine: &Engine,
    linker: &Linker<T>,
    component: &Component,
    items: &[(String, ComponentItem)],
) -> (Vec<(String, String)>, Linker<T>) {
    let mut missing: Vec<(String, String)> = Vec::new();
    // Resources a stand-in must not define: those an import shares with
    // another interface (`use`), which the first definition already fixes.
    let mut shared: HashSet<(String, String)> = HashSet::new();
    let mut probe = linker.clone();
    // Each round finds one more missing import or one more shared resource.
    for _ in 0..4 * items.len() + 4 {
        let error = match probe.substituted_component_type(component) {
            Ok(_) => break,
            Err(error) => error,
        };
        let top = error.to_string();
        let chain = format!("{error:#}");
        let Some((name, _)) = items
            .iter()
            .find(|(name, _)| top.contains(&format!("`{name}`")))
        else {
            break;
        };
        if missing.iter().any(|(known, _)| known == name) {
            // The stand-in itself does not fit: a resource it shares.
            match last_quoted_after(&chain, "instance export `") {
                Some(export) if chain.contains("mismatched resource types") => {
                    if !shared.insert((name.clone(), export)) {
                        break;
                    }
                }
                _ => break,
            }
        } else {
            let cause = chain
                .split_once("not found in the linker: ")
                .map_or(chain.as_str(), |(_, cause)| cause);
            missing.push((name.clone(), cause.to_owned()));
        }
        probe = linker.clone();
        probe.allow_shadowing(true);
        for (name, item) in items {
            if missing.iter().any(|(known, _)| known == name) {
                let skip = |export: &str| shared.contains(&(name.clone(), export.to_owned()));
                if stand_in(engine, &mut probe.root(), name, item, &skip).is_err() {
                    return (missing, probe);
                }
            }
        }
    }
    (missing, probe)
}

/// A definition of `item` whose functions trap: enough to type-check.
fn stand_in<T: 'static>(
    engine: &Engine,
    linker: &mut LinkerInstance<'_, T>,
    name: &str,
    item: &ComponentItem,
    skip: &dyn Fn(&str) -> bool,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let name = name.to_owned();
            linker.func_new(&name.clone(), move |_, _, _, _| {
                wasmtime::bail!("`{name}` is not provided by this host")
            })
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut inner = linker.instance(name)?;
            for (export, item) in instance.exports(engine) {
                if !(matches!(item.ty, ComponentItem::Resource(_)) && skip(export)) {
                    stand_in(engine, &mut inner, export, &item.ty, &|_| false)?;
                }
            }
            Ok(())
        }
        ComponentItem::Resource(_) => {
            linker.resource(name, ResourceType::host::<StandIn>(), |_, _| Ok(()))
        }
        ComponentItem::Type(_) => Ok(()),
        ComponentItem::CoreFunc(_) | ComponentItem::Module(_) | ComponentItem::Component(_) => {
            wasmtime::bail!("cannot stand in for {name}")
        }
    }
}

/// The host type of stand-in resources.
struct StandIn;

/// The last `` `name` `` that follows `marker` in `text`.
fn last_quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.rfind(marker)? + marker.len();
    let rest = &text[start..];
    Some(rest[..rest.find('`')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_quoted_names_the_innermost_export() {
        let chain = "component imports instance `a:b/c@1.0.0`, but a matching implementation \
            was not found in the linker: instance export `x` has the wrong type: instance \
            export `input-stream` has the wrong type: mismatched resource types";
        assert_eq!(
            last_quoted_after(chain, "instance export `").as_deref(),
            Some("input-stream")
        );
        assert_eq!(last_quoted_after("nothing", "instance export `"), None);
    }

    #[test]
    fn the_contract_is_read_from_the_imports() {
        let old = [
            "wasi:io/streams@0.2.6",
            "keruj:plugin/types@0.1.0",
            "keruj:plugin/kv@0.1.0",
        ];
        assert_eq!(contract_of(old), "0.1.0");
        let mixed = ["keruj:plugin/types@0.10.0", "keruj:plugin/kv@0.2.0"];
        assert_eq!(contract_of(mixed), "0.10.0");
        assert_eq!(contract_of(["wasi:io/streams@0.2.6"]), CONTRACT_VERSION);
    }
}
