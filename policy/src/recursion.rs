//! Refuses recursive rules and functions, and dependency chains too deep to evaluate, before a
//! bundle is used.
//!
//! Rego forbids recursion (OPA's compiler answers `rego_recursion_error`), but regorus evaluates
//! a recursive function until the thread's stack overflows, which aborts the whole process: a
//! merged policy could crash-loop the server. This module builds the dependency graph of every
//! rule and function of a bundle from regorus's syntax tree and refuses any cycle, naming it.
//!
//! The graph over-approximates on purpose, so that nothing recursive gets through: a node is a
//! rule's constant head path (`data.<package>.<name>`); an edge goes to every rule a reference
//! could reach (a call, a variable that names a rule of the package, `data.` paths and import
//! aliases, where a dynamic index such as `data.x[k]` reaches everything under `data.x`). The
//! only names taken as local are a function's own parameters, which nothing inside the function
//! can rebind. A variable assigned with `:=` that shares a rule's name therefore counts as a
//! reference to that rule; renaming it is the fix when that closes a false cycle.
//!
//! Without cycles, evaluation depth is bounded by the longest dependency chain, which is
//! limited too ([`MAX_CHAIN`]), since each link takes interpreter stack.

use std::collections::{BTreeSet, HashMap, HashSet};

use regorus::unstable::{Expr, Literal, Module, Query, Ref, Rule, RuleHead};

use crate::PolicyError;

/// The longest chain of rules depending on each other that a bundle may hold. Measured: a
/// release build evaluates a chain of 2,000 rules on a 2 MiB thread (each link takes well under
/// 1 KiB of stack); 256 leaves a wide margin and is far beyond hand-written policies.
pub const MAX_CHAIN: usize = 256;

/// A rule (or function) of the bundle: its head path and where it is declared.
struct Node {
    path: Vec<String>,
    file: String,
    line: u32,
    column: u32,
}

/// Checks the bundle's modules; one error per cycle (or one for a chain too deep).
pub(crate) fn check(modules: &[Ref<Module>]) -> Vec<PolicyError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    // Rules' bodies to scan, with the node they belong to and their module.
    let mut rules: Vec<(usize, &Ref<Module>, &Rule)> = Vec::new();
    // Per package, the first segment of every rule it declares (what a bare name can mean).
    let mut names: HashMap<Vec<String>, HashSet<String>> = HashMap::new();
    for module in modules {
        let Some(package) = constant_path(&module.package.refr) else { continue };
        for rule in &module.policy {
            let head = match rule.as_ref() {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } | RuleHead::Func { refr, .. } => refr,
                },
                Rule::Default { refr, .. } => refr,
            };
            let head = constant_prefix(head).unwrap_or_default();
            if let Some(first) = head.first() {
                names.entry(package.clone()).or_default().insert(first.clone());
            }
            let mut path = package.clone();
            path.extend(head);
            let span = rule.span();
            let id = *index.entry(path.clone()).or_insert_with(|| {
                nodes.push(Node { path, file: span.source.get_path().clone(), line: span.line, column: span.col });
                nodes.len() - 1
            });
            rules.push((id, module, rule.as_ref()));
        }
    }

    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    for (from, module, rule) in rules {
        let package = constant_path(&module.package.refr).unwrap_or_default();
        let scope = Scope { package: &package, names: names.get(&package), aliases: aliases(module), params: params(rule) };
        let mut targets: Vec<Vec<String>> = Vec::new();
        scope.rule(rule, &mut targets);
        for target in targets {
            for (to, node) in nodes.iter().enumerate() {
                if node.path.starts_with(&target) || target.starts_with(&node.path) {
                    edges[from].insert(to);
                }
            }
        }
    }
    let graph = Graph { nodes: &nodes, edges: &edges };
    let cycles = graph.cycles();
    if !cycles.is_empty() {
        return cycles.into_iter().map(|cycle| graph.recursion_error(&cycle)).collect();
    }
    graph.too_deep().into_iter().collect()
}

/// What names mean inside one rule.
struct Scope<'a> {
    package: &'a [String],
    names: Option<&'a HashSet<String>>,
    aliases: HashMap<String, Vec<String>>,
    params: HashSet<String>,
}

impl Scope<'_> {
    fn rule(&self, rule: &Rule, out: &mut Vec<Vec<String>>) {
        match rule {
            Rule::Spec { head, bodies, .. } => {
                match head {
                    RuleHead::Compr { refr, assign, .. } => {
                        self.dynamic_parts(refr, out);
                        if let Some(a) = assign {
                            self.expr(&a.value, out);
                        }
                    }
                    RuleHead::Set { refr, key, .. } => {
                        self.dynamic_parts(refr, out);
                        if let Some(k) = key {
                            self.expr(k, out);
                        }
                    }
                    RuleHead::Func { refr, args, assign, .. } => {
                        self.dynamic_parts(refr, out);
                        for a in args {
                            self.expr(a, out);
                        }
                        if let Some(a) = assign {
                            self.expr(&a.value, out);
                        }
                    }
                }
                for body in bodies {
                    if let Some(a) = &body.assign {
                        self.expr(&a.value, out);
                    }
                    self.query(&body.query, out);
                }
            }
            Rule::Default { args, value, .. } => {
                for a in args {
                    self.expr(a, out);
                }
                self.expr(value, out);
            }
        }
    }

    fn query(&self, query: &Query, out: &mut Vec<Vec<String>>) {
        for stmt in &query.stmts {
            match &stmt.literal {
                Literal::SomeVars { .. } => {}
                Literal::SomeIn { key, value, collection, .. } => {
                    if let Some(k) = key {
                        self.expr(k, out);
                    }
                    self.expr(value, out);
                    self.expr(collection, out);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => self.expr(expr, out),
                Literal::Every { domain, query, .. } => {
                    self.expr(domain, out);
                    self.query(query, out);
                }
            }
            for with in &stmt.with_mods {
                self.expr(&with.refr, out);
                self.expr(&with.r#as, out);
            }
        }
    }

    fn expr(&self, expr: &Expr, out: &mut Vec<Vec<String>>) {
        match expr {
            Expr::String { .. } | Expr::RawString { .. } | Expr::Number { .. } | Expr::Bool { .. } | Expr::Null { .. } => {}
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => self.reference(expr, out),
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                for i in items {
                    self.expr(i, out);
                }
            }
            Expr::Object { fields, .. } => {
                for (_, k, v) in fields {
                    self.expr(k, out);
                    self.expr(v, out);
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.expr(term, out);
                self.query(query, out);
            }
            Expr::ObjectCompr { key, value, query, .. } => {
                self.expr(key, out);
                self.expr(value, out);
                self.query(query, out);
            }
            Expr::Call { fcn, params, .. } => {
                // A called name is never a local variable, parameters included.
                if let Some(target) = self.resolve(fcn, true) {
                    out.push(target);
                }
                self.dynamic_parts(fcn, out);
                for p in params {
                    self.expr(p, out);
                }
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr, out),
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                self.expr(lhs, out);
                self.expr(rhs, out);
            }
            Expr::Membership { key, value, collection, .. } => {
                if let Some(k) = key {
                    self.expr(k, out);
                }
                self.expr(value, out);
                self.expr(collection, out);
            }
        }
    }

    /// A reference chain: what its constant prefix reaches, then its dynamic indexes.
    fn reference(&self, expr: &Expr, out: &mut Vec<Vec<String>>) {
        if let Some(target) = self.resolve(expr, false) {
            out.push(target);
        }
        self.dynamic_parts(expr, out);
    }

    /// The dynamic parts of a reference (`p[x]`'s `x`, and a root that is not a name). For a
    /// rule head, that is all there is to scan: its constant path is the node itself.
    fn dynamic_parts(&self, expr: &Expr, out: &mut Vec<Vec<String>>) {
        match expr {
            Expr::RefDot { refr, .. } => self.dynamic_parts(refr, out),
            Expr::RefBrack { refr, index, .. } => {
                self.dynamic_parts(refr, out);
                self.expr(index, out);
            }
            Expr::Var { .. } => {}
            other => self.expr(other, out),
        }
    }

    /// The data path a reference reaches, up to its first dynamic index; `None` when it names
    /// no rule (`input`, a builtin, a parameter, a local variable of another name).
    fn resolve(&self, expr: &Expr, called: bool) -> Option<Vec<String>> {
        let segments = constant_prefix(expr)?;
        let (first, rest) = segments.split_first()?;
        let mut path = if first == "data" {
            Vec::new()
        } else if first == "input" || (!called && self.params.contains(first)) {
            return None;
        } else if self.names.is_some_and(|n| n.contains(first)) {
            let mut p = self.package.to_vec();
            p.push(first.clone());
            p
        } else if let Some(alias) = self.aliases.get(first) {
            alias.clone()
        } else {
            return None;
        };
        path.extend(rest.iter().cloned());
        Some(path)
    }
}

/// Import aliases of a module that name data: `import data.a.b` is `b`, `... as c` is `c`.
fn aliases(module: &Module) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for import in &module.imports {
        let Some(path) = constant_path(&import.refr) else { continue };
        let Some(("data", rest)) = path.split_first().map(|(f, r)| (f.as_str(), r)) else { continue };
        let name = match &import.r#as {
            Some(span) => span.text().to_owned(),
            None => match rest.last() {
                Some(last) => last.clone(),
                None => continue,
            },
        };
        out.insert(name, rest.to_vec());
    }
    out
}

/// A function's parameter names: the only names known to be local everywhere in its bodies.
fn params(rule: &Rule) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Rule::Spec { head: RuleHead::Func { args, .. }, .. } = rule {
        for a in args {
            if let Expr::Var { span, .. } = a.as_ref() {
                out.insert(span.text().to_owned());
            }
        }
    }
    out
}

/// A reference made only of constant parts (`a.b["c"]`), as segments.
fn constant_path(expr: &Expr) -> Option<Vec<String>> {
    segments(expr)?.into_iter().collect()
}

/// The constant prefix of a reference: its root and the fields before the first dynamic index;
/// `None` when its root is not a name (`f(x).y`).
fn constant_prefix(expr: &Expr) -> Option<Vec<String>> {
    Some(segments(expr)?.into_iter().map_while(|s| s).collect())
}

/// A reference's parts from its root (a name) outwards, `None` for each dynamic index; `None`
/// when the root is not a name.
fn segments(expr: &Expr) -> Option<Vec<Option<String>>> {
    let mut chain = Vec::new();
    let mut e = expr;
    loop {
        match e {
            Expr::RefDot { refr, field, .. } => {
                chain.push(Some(field.1.as_string().map(|s| s.to_string()).unwrap_or_else(|_| field.0.text().to_owned())));
                e = refr;
            }
            Expr::RefBrack { refr, index, .. } => {
                chain.push(match index.as_ref() {
                    Expr::String { value, .. } | Expr::RawString { value, .. } => value.as_string().ok().map(|s| s.to_string()),
                    _ => None,
                });
                e = refr;
            }
            Expr::Var { span, .. } => {
                chain.push(Some(span.text().to_owned()));
                break;
            }
            _ => return None,
        }
    }
    chain.reverse();
    Some(chain)
}

struct Graph<'a> {
    nodes: &'a [Node],
    edges: &'a [BTreeSet<usize>],
}

impl Graph<'_> {
    /// Strongly connected components that hold a cycle (Tarjan's algorithm, iterative so that a
    /// long chain cannot overflow this stack either), each as one cycle through them.
    fn cycles(&self) -> Vec<Vec<usize>> {
        let n = self.nodes.len();
        let mut order = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut next = 0;
        let mut found = Vec::new();
        for start in 0..n {
            if order[start] != usize::MAX {
                continue;
            }
            let mut work: Vec<(usize, std::collections::btree_set::Iter<'_, usize>)> = Vec::new();
            order[start] = next;
            low[start] = next;
            next += 1;
            stack.push(start);
            on_stack[start] = true;
            work.push((start, self.edges[start].iter()));
            while let Some((v, iter)) = work.last_mut() {
                let v = *v;
                if let Some(&w) = iter.next() {
                    if order[w] == usize::MAX {
                        order[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, self.edges[w].iter()));
                    } else if on_stack[w] {
                        low[v] = low[v].min(order[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some((parent, _)) = work.last() {
                    low[*parent] = low[*parent].min(low[v]);
                }
                if low[v] == order[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 || self.edges[v].contains(&v) {
                        found.push(self.cycle_in(&component));
                    }
                }
            }
        }
        found.sort_by_key(|c| self.position(c[0]));
        found
    }

    /// One cycle inside a strongly connected component, starting at its first declared rule:
    /// breadth-first from it, within the component, until an edge leads back to it.
    fn cycle_in(&self, component: &[usize]) -> Vec<usize> {
        let members: HashSet<usize> = component.iter().copied().collect();
        let start = *component.iter().min_by_key(|&&v| self.position(v)).unwrap_or(&component[0]);
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for &w in &self.edges[v] {
                if w == start {
                    let mut path = vec![start];
                    let mut at = v;
                    while at != start {
                        path.push(at);
                        at = parent[&at];
                    }
                    path[1..].reverse();
                    path.push(start);
                    return path;
                }
                if members.contains(&w) && !parent.contains_key(&w) {
                    parent.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        vec![start, start]
    }

    fn position(&self, v: usize) -> (String, u32, u32) {
        let n = &self.nodes[v];
        (n.file.clone(), n.line, n.column)
    }

    fn name(&self, v: usize) -> String {
        format!("data.{}", self.nodes[v].path.join("."))
    }

    fn recursion_error(&self, cycle: &[usize]) -> PolicyError {
        let first = &self.nodes[cycle[0]];
        let names: Vec<String> = cycle.iter().map(|&v| self.name(v)).collect();
        PolicyError::Compile {
            file: first.file.clone(),
            line: first.line,
            column: first.column,
            message: format!("`{}` is recursive: {}; Rego does not allow recursion", self.name(cycle[0]), names.join(" -> ")),
        }
    }

    /// The first rule whose dependency chain is longer than [`MAX_CHAIN`], if any. The graph has
    /// no cycles here.
    fn too_deep(&self) -> Option<PolicyError> {
        let n = self.nodes.len();
        // Longest chain from each node, computed in reverse topological order (iteratively).
        let mut depth: Vec<Option<usize>> = vec![None; n];
        for start in 0..n {
            if depth[start].is_some() {
                continue;
            }
            let mut work = vec![(start, false)];
            while let Some((v, expanded)) = work.pop() {
                if depth[v].is_some() {
                    continue;
                }
                if expanded {
                    let d = self.edges[v].iter().map(|&w| depth[w].unwrap_or(0) + 1).max().unwrap_or(1);
                    depth[v] = Some(d);
                    continue;
                }
                work.push((v, true));
                work.extend(self.edges[v].iter().filter(|&&w| depth[w].is_none()).map(|&w| (w, false)));
            }
        }
        let (v, d) =
            (0..n).filter_map(|v| depth[v].map(|d| (v, d))).filter(|&(_, d)| d > MAX_CHAIN).min_by_key(|&(v, _)| self.position(v))?;
        let node = &self.nodes[v];
        Some(PolicyError::Compile {
            file: node.file.clone(),
            line: node.line,
            column: node.column,
            message: format!("`{}` depends on a chain of {d} rules; at most {MAX_CHAIN} are allowed", self.name(v)),
        })
    }
}
