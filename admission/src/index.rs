//! The [`Index`]: what each environment admits, built once by the caller from the config repo
//! and the store, then read by every review until the next one replaces it.
//!
//! Lookups on the review path take `&str` and [`Digest`] and allocate nothing: namespaces are a
//! hash map, and each environment keeps its releases' digests and model URIs in sorted vectors
//! searched by bisection (a few hundred kilobytes for 10,000 releases, no per-key allocation).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use tollgate_policy::Bundle;
use tollgate_spec::Kind;

use crate::digest::{Digest, Pin};

/// What an environment does with a workload that is not promoted there
/// (`spec.admission.mode` of the Environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse it.
    Enforce,
    /// Admit it with a warning to the client.
    Warn,
}

impl Mode {
    /// `enforce` or `warn`, as the Environment spells it.
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "enforce" => Some(Mode::Enforce),
            "warn" => Some(Mode::Warn),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
        }
    }
}

/// A release promoted to an environment, as the caller found it (a Promotion document and its
/// Release and Model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promoted<'a> {
    /// The Release's name.
    pub release: &'a str,
    /// Its serving image, `repository@sha256:<hex>` (`spec.serving.image`).
    pub image: &'a str,
    /// The model artifact's SHA-256 (`spec.model.sha256` of the Promotion), 64 hex digits.
    pub model_sha256: Option<&'a str>,
    /// Where the serving stack loads the model from: what an InferenceService's `storageUri`
    /// names (the Model version's artifact URI), compared as written.
    pub model_uri: Option<&'a str>,
}

/// Who may admit a workload that is not promoted, by annotating it
/// `tollgate.dev/break-glass: <reason>`, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassPolicy {
    /// Kubernetes usernames (`request.userInfo.username`).
    pub users: Vec<String>,
    /// Kubernetes groups (`request.userInfo.groups`), e.g. an SRE on-call group.
    pub groups: Vec<String>,
    /// How long a break-glass admission stands: the verdict's expiry is the review's time plus
    /// this, and the caller acts on it (alerts, reverts).
    pub max_duration: Duration,
}

/// The compiled policy bundle evaluated on admitted workloads: the same [`Bundle`] as
/// `tollgate check` evaluates a repo's Kubernetes manifests with, compiled once by the caller.
#[derive(Debug, Clone)]
pub struct Policies {
    pub(crate) bundle: Bundle,
    /// `tollgate.kubernetes` and `tollgate.lib.kubernetes`, those that define rules.
    pub(crate) packages: Vec<String>,
    /// Rule ids switched off in tollgate.yaml (`spec.policies.disabled`).
    pub(crate) disabled: HashSet<String>,
}

impl Policies {
    /// The bundle's Kubernetes packages (the organisation's `tollgate.kubernetes` and the default
    /// library's `tollgate.lib.kubernetes`, as `tollgate check` picks them), minus `disabled` ids.
    pub fn new<S: Into<String>>(bundle: Bundle, disabled: impl IntoIterator<Item = S>) -> Policies {
        let suffix = Kind::KubernetesManifest.package_suffix();
        let packages =
            [format!("tollgate.{suffix}"), format!("tollgate.lib.{suffix}")].into_iter().filter(|p| bundle.has_rules(p)).collect();
        Policies { bundle, packages, disabled: disabled.into_iter().map(Into::into).collect() }
    }

    /// The bundle's digest, recorded in verdicts.
    pub fn digest(&self) -> &str {
        self.bundle.digest()
    }

    /// The packages evaluated.
    pub fn packages(&self) -> &[String] {
        &self.packages
    }
}

/// Errors building an [`Index`]: each names the one input refused, so a caller can log it and
/// go on with the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Two environments list the same namespace.
    #[error("namespace `{namespace}` belongs to environments `{first}` and `{second}`")]
    NamespaceTaken { namespace: String, first: String, second: String },
    /// An environment was declared twice.
    #[error("environment `{environment}` is declared twice")]
    DuplicateEnvironment { environment: String },
    /// A promotion or break-glass policy names an environment not declared first.
    #[error("environment `{environment}` has no admission settings")]
    UnknownEnvironment { environment: String },
    /// A promoted release's serving image is not pinned by a sha256 digest.
    #[error("serving image `{image}` of release `{release}` is not pinned by a sha256 digest")]
    ImageNotPinned { release: String, image: String },
    /// A promoted release's model digest is not 64 lower-case hex digits.
    #[error("model digest `{digest}` of release `{release}` is not 64 lower-case hex digits")]
    ModelDigest { release: String, digest: String },
    /// A platform image names a tag or a malformed digest.
    #[error("platform image `{image}` of environment `{environment}` is neither a repository nor `repository@sha256:<digest>`")]
    PlatformImage { environment: String, image: String },
}

impl tollgate_error::Hint for IndexError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(match self {
            IndexError::NamespaceTaken { .. } => "list each namespace under `spec.admission.namespaces` of one environment only",
            IndexError::DuplicateEnvironment { .. } => "declare each environment once",
            IndexError::UnknownEnvironment { .. } => {
                "declare the environment with `IndexBuilder::environment` (its `spec.admission`) before its promotions"
            }
            IndexError::ImageNotPinned { .. } => "pin `spec.serving.image` of the release by digest, `registry/repo@sha256:<digest>`",
            IndexError::ModelDigest { .. } => "write the model artifact's SHA-256 as 64 lower-case hex digits",
            IndexError::PlatformImage { .. } => {
                "name a repository (`docker.io/istio/proxyv2`: any digest of it) or one image by digest; tags are never admitted"
            }
        }))
    }
}

/// One promoted release, as the index keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub(crate) name: Box<str>,
    pub(crate) image: Box<str>,
    pub(crate) image_digest: Digest,
    pub(crate) model: Option<Digest>,
}

/// Break-glass rules of one environment.
#[derive(Debug, Clone)]
pub(crate) struct BreakGlass {
    pub(crate) users: HashSet<Box<str>>,
    pub(crate) groups: HashSet<Box<str>>,
    pub(crate) max_duration: Duration,
}

/// Images the platform injects or runs beside every workload (a service mesh's proxy, KServe's
/// storage initializer), admitted without a release when pinned by digest.
#[derive(Debug, Clone, Default)]
pub(crate) struct Platform {
    /// Repositories any digest of which is admitted.
    repositories: HashSet<Box<str>>,
    /// Single images, by digest.
    digests: HashSet<Digest>,
}

impl Platform {
    /// Whether the image `repository@digest` is the platform's.
    pub(crate) fn admits(&self, repository: &str, digest: &Digest) -> bool {
        self.digests.contains(digest) || self.repositories.contains(repository)
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.repositories.capacity() * (size_of::<Box<str>>() + 1)
            + self.repositories.iter().map(|r| r.len()).sum::<usize>()
            + self.digests.capacity() * (size_of::<Digest>() + 1)
    }
}

/// What one environment admits.
#[derive(Debug, Clone)]
pub(crate) struct Environment {
    pub(crate) name: Box<str>,
    pub(crate) mode: Mode,
    /// Sorted by name.
    pub(crate) releases: Vec<Release>,
    /// (serving image digest, release), sorted.
    images: Vec<(Digest, u32)>,
    /// (model digest, release), sorted.
    models: Vec<(Digest, u32)>,
    /// (model URI, release), sorted.
    model_uris: Vec<(Box<str>, u32)>,
    /// (image repository, release), sorted: to name the releases of the same repository first
    /// when an image is refused.
    repositories: Vec<(Box<str>, u32)>,
    pub(crate) break_glass: Option<BreakGlass>,
    pub(crate) platform: Platform,
}

impl Environment {
    /// The releases serving the image `digest`.
    pub(crate) fn by_image(&self, digest: &Digest) -> impl Iterator<Item = &Release> {
        equal_range(&self.images, |(d, _)| d.cmp(digest)).iter().map(|(_, r)| &self.releases[*r as usize])
    }

    /// The releases of the model `digest`.
    pub(crate) fn by_model(&self, digest: &Digest) -> impl Iterator<Item = &Release> {
        equal_range(&self.models, |(d, _)| d.cmp(digest)).iter().map(|(_, r)| &self.releases[*r as usize])
    }

    /// The releases whose model is loaded from `uri` (a trailing `/` ignored).
    pub(crate) fn by_model_uri(&self, uri: &str) -> impl Iterator<Item = &Release> {
        let uri = uri.trim_end_matches('/');
        equal_range(&self.model_uris, |(u, _)| (**u).cmp(uri)).iter().map(|(_, r)| &self.releases[*r as usize])
    }

    /// How many releases name a model digest.
    pub(crate) fn model_count(&self) -> usize {
        self.models.len()
    }

    /// The releases whose serving image is in `repository`.
    pub(crate) fn by_repository(&self, repository: &str) -> impl Iterator<Item = &Release> {
        equal_range(&self.repositories, |(u, _)| (**u).cmp(repository)).iter().map(|(_, r)| &self.releases[*r as usize])
    }
}

/// The run of `sorted` that compares equal, by bisection.
fn equal_range<T>(sorted: &[T], cmp: impl Fn(&T) -> std::cmp::Ordering) -> &[T] {
    let start = sorted.partition_point(|x| cmp(x).is_lt());
    let len = sorted[start..].partition_point(|x| cmp(x).is_eq());
    &sorted[start..start + len]
}

/// The usernames of kube-controller-manager's workload controllers (with
/// `--use-service-account-credentials`, the default of kubeadm and managed clusters) and the
/// manager's own identity: the users that create ReplicaSets, Jobs and Pods from an admitted
/// parent, and carry its break-glass annotation down.
pub const DEFAULT_WORKLOAD_CONTROLLERS: &[&str] = &[
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:replication-controller",
    "system:serviceaccount:kube-system:statefulset-controller",
    "system:serviceaccount:kube-system:daemon-set-controller",
    "system:serviceaccount:kube-system:job-controller",
    "system:serviceaccount:kube-system:cronjob-controller",
];

/// Everything a review is judged against: namespace → environment (and its mode), each
/// environment's promoted releases and break-glass rules, and the policy bundle.
///
/// Built with [`Index::builder`]; immutable afterwards, so readers share it behind an `Arc`
/// and a new one replaces it whole ([`crate::Admitter::publish`]).
#[derive(Debug, Clone)]
pub struct Index {
    pub(crate) namespaces: HashMap<Box<str>, u32>,
    pub(crate) environments: Vec<Environment>,
    pub(crate) policies: Option<Policies>,
    pub(crate) controllers: HashSet<Box<str>>,
    pub(crate) source: Option<Box<str>>,
}

impl Index {
    /// An empty builder: no environment, no policies, the default workload controllers.
    pub fn builder() -> IndexBuilder {
        IndexBuilder {
            environments: BTreeMap::new(),
            order: Vec::new(),
            namespaces: HashMap::new(),
            policies: None,
            controllers: DEFAULT_WORKLOAD_CONTROLLERS.iter().map(|c| Box::from(*c)).collect(),
            source: None,
        }
    }

    /// The environment of `namespace` and its index, when the namespace is mapped.
    pub(crate) fn environment_of(&self, namespace: &str) -> Option<&Environment> {
        self.namespaces.get(namespace).map(|i| &self.environments[*i as usize])
    }

    /// The environment `namespace` belongs to, if any.
    pub fn environment(&self, namespace: &str) -> Option<(&str, Mode)> {
        self.environment_of(namespace).map(|e| (&*e.name, e.mode))
    }

    /// How many releases are promoted to `environment` (0 when it is unknown).
    pub fn promoted_count(&self, environment: &str) -> usize {
        self.environments.iter().find(|e| &*e.name == environment).map_or(0, |e| e.releases.len())
    }

    /// What the index was built from (a commit, a store position), as the builder was told.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The policy bundle evaluated at admission, if any.
    pub fn policies(&self) -> Option<&Policies> {
        self.policies.as_ref()
    }

    /// Bytes of heap the index holds (capacities of its tables and strings; not the policy
    /// bundle, which the controller shares with `check`), for metrics and the benchmark.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut total = self.namespaces.capacity() * (size_of::<(Box<str>, u32)>() + 1)
            + self.namespaces.keys().map(|k| k.len()).sum::<usize>()
            + self.environments.capacity() * size_of::<Environment>()
            + self.controllers.capacity() * (size_of::<Box<str>>() + 1)
            + self.controllers.iter().map(|c| c.len()).sum::<usize>();
        for env in &self.environments {
            total += env.name.len()
                + env.releases.capacity() * size_of::<Release>()
                + env.releases.iter().map(|r| r.name.len() + r.image.len()).sum::<usize>()
                + env.images.capacity() * size_of::<(Digest, u32)>()
                + env.models.capacity() * size_of::<(Digest, u32)>()
                + env.model_uris.capacity() * size_of::<(Box<str>, u32)>()
                + env.model_uris.iter().map(|(u, _)| u.len()).sum::<usize>()
                + env.repositories.capacity() * size_of::<(Box<str>, u32)>()
                + env.repositories.iter().map(|(u, _)| u.len()).sum::<usize>();
            total += env.platform.heap_bytes();
            if let Some(b) = &env.break_glass {
                total += (b.users.capacity() + b.groups.capacity()) * (size_of::<Box<str>>() + 1)
                    + b.users.iter().chain(&b.groups).map(|u| u.len()).sum::<usize>();
            }
        }
        total
    }
}

/// An environment while its index is built.
#[derive(Debug)]
struct Draft {
    mode: Mode,
    releases: Vec<Release>,
    model_uris: Vec<(Box<str>, u32)>,
    break_glass: Option<BreakGlass>,
    platform: Platform,
}

/// Builds an [`Index`]: declare environments first, then their promotions.
#[derive(Debug)]
pub struct IndexBuilder {
    environments: BTreeMap<Box<str>, Draft>,
    order: Vec<Box<str>>,
    namespaces: HashMap<Box<str>, Box<str>>,
    policies: Option<Policies>,
    controllers: HashSet<Box<str>>,
    source: Option<Box<str>>,
}

impl IndexBuilder {
    /// Declares `environment` (its `spec.admission`): the namespaces that belong to it and its
    /// mode.
    ///
    /// # Errors
    ///
    /// [`IndexError::DuplicateEnvironment`], or [`IndexError::NamespaceTaken`] when another
    /// environment already lists one of the namespaces (nothing is added then).
    pub fn environment<'n>(
        &mut self,
        environment: &str,
        mode: Mode,
        namespaces: impl IntoIterator<Item = &'n str>,
    ) -> Result<(), IndexError> {
        if self.environments.contains_key(environment) {
            return Err(IndexError::DuplicateEnvironment { environment: environment.to_owned() });
        }
        let namespaces: Vec<&str> = namespaces.into_iter().collect();
        for ns in &namespaces {
            if let Some(first) = self.namespaces.get(*ns) {
                return Err(IndexError::NamespaceTaken {
                    namespace: (*ns).to_owned(),
                    first: first.to_string(),
                    second: environment.to_owned(),
                });
            }
        }
        for ns in namespaces {
            self.namespaces.insert(ns.into(), environment.into());
        }
        self.environments.insert(
            environment.into(),
            Draft { mode, releases: Vec::new(), model_uris: Vec::new(), break_glass: None, platform: Platform::default() },
        );
        self.order.push(environment.into());
        Ok(())
    }

    /// Adds a release promoted to `environment`.
    ///
    /// # Errors
    ///
    /// [`IndexError::UnknownEnvironment`], [`IndexError::ImageNotPinned`] or
    /// [`IndexError::ModelDigest`]; the release is not added.
    pub fn promoted(&mut self, environment: &str, release: Promoted<'_>) -> Result<(), IndexError> {
        let draft =
            self.environments.get_mut(environment).ok_or_else(|| IndexError::UnknownEnvironment { environment: environment.to_owned() })?;
        let Pin::Digest { digest, .. } = Pin::of(release.image) else {
            return Err(IndexError::ImageNotPinned { release: release.release.to_owned(), image: release.image.to_owned() });
        };
        let model = match release.model_sha256 {
            Some(text) => Some(
                Digest::from_hex(text)
                    .ok_or_else(|| IndexError::ModelDigest { release: release.release.to_owned(), digest: text.to_owned() })?,
            ),
            None => None,
        };
        let at = u32::try_from(draft.releases.len()).unwrap_or(u32::MAX);
        if let Some(uri) = release.model_uri {
            draft.model_uris.push((uri.trim_end_matches('/').into(), at));
        }
        draft.releases.push(Release { name: release.release.into(), image: release.image.trim().into(), image_digest: digest, model });
        Ok(())
    }

    /// Who may break glass in `environment`, and for how long (nobody, without this).
    ///
    /// # Errors
    ///
    /// [`IndexError::UnknownEnvironment`].
    pub fn break_glass(&mut self, environment: &str, policy: BreakGlassPolicy) -> Result<(), IndexError> {
        let draft =
            self.environments.get_mut(environment).ok_or_else(|| IndexError::UnknownEnvironment { environment: environment.to_owned() })?;
        draft.break_glass = Some(BreakGlass {
            users: policy.users.iter().map(|u| u.as_str().into()).collect(),
            groups: policy.groups.iter().map(|g| g.as_str().into()).collect(),
            max_duration: policy.max_duration,
        });
        Ok(())
    }

    /// The platform's images in `environment` (`spec.admission.platformImages`): each a
    /// repository, any digest of which is admitted, or one `repository@sha256:<digest>`. They
    /// are admitted without a release, when pinned by digest; the policies still run.
    ///
    /// # Errors
    ///
    /// [`IndexError::UnknownEnvironment`], [`IndexError::PlatformImage`] for a tag or a
    /// malformed digest (nothing is added then).
    pub fn platform_images<'i>(&mut self, environment: &str, images: impl IntoIterator<Item = &'i str>) -> Result<(), IndexError> {
        let draft =
            self.environments.get_mut(environment).ok_or_else(|| IndexError::UnknownEnvironment { environment: environment.to_owned() })?;
        let mut platform = Platform::default();
        for image in images {
            let refused = || IndexError::PlatformImage { environment: environment.to_owned(), image: image.to_owned() };
            match Pin::of(image) {
                Pin::Digest { digest, .. } => {
                    platform.digests.insert(digest);
                }
                // A repository alone: what `Pin` reads as an untagged name.
                Pin::Tag { repository } if repository == image.trim() => {
                    platform.repositories.insert(repository.into());
                }
                _ => return Err(refused()),
            }
        }
        draft.platform = platform;
        Ok(())
    }

    /// The policies to evaluate on every judged workload (none, without this).
    pub fn policies(&mut self, policies: Policies) {
        self.policies = Some(policies);
    }

    /// Replaces the users trusted to carry a parent's break-glass annotation down to the objects
    /// they create (default: [`DEFAULT_WORKLOAD_CONTROLLERS`]).
    pub fn workload_controllers<'c>(&mut self, users: impl IntoIterator<Item = &'c str>) {
        self.controllers = users.into_iter().map(Box::from).collect();
    }

    /// Records what the index is built from (a commit, a store sequence), for verdicts.
    pub fn source(&mut self, source: &str) {
        self.source = Some(source.into());
    }

    /// The index.
    pub fn build(self) -> Index {
        let IndexBuilder { mut environments, order, namespaces, policies, controllers, source } = self;
        let position: HashMap<&str, u32> = order.iter().enumerate().map(|(i, e)| (&**e, u32::try_from(i).unwrap_or(u32::MAX))).collect();
        let namespaces = namespaces.into_iter().map(|(ns, env)| (ns, position[&*env])).collect();
        let environments = order
            .iter()
            .map(|name| {
                let draft = environments.remove(name).unwrap_or(Draft {
                    mode: Mode::Enforce,
                    releases: Vec::new(),
                    model_uris: Vec::new(),
                    break_glass: None,
                    platform: Platform::default(),
                });
                finish(name.clone(), draft)
            })
            .collect();
        Index { namespaces, environments, policies, controllers, source }
    }
}

/// Sorts an environment's releases by name and builds its lookup tables.
fn finish(name: Box<str>, draft: Draft) -> Environment {
    let Draft { mode, releases, model_uris, break_glass, platform } = draft;
    // Sort by name, remembering where each release was, to renumber the model URIs.
    let mut order: Vec<u32> = (0..u32::try_from(releases.len()).unwrap_or(u32::MAX)).collect();
    order.sort_by(|a, b| releases[*a as usize].name.cmp(&releases[*b as usize].name));
    let mut renumber = vec![0u32; releases.len()];
    for (new, old) in order.iter().enumerate() {
        renumber[*old as usize] = u32::try_from(new).unwrap_or(u32::MAX);
    }
    let mut slots: Vec<Option<Release>> = releases.into_iter().map(Some).collect();
    let releases: Vec<Release> = order.iter().filter_map(|old| slots[*old as usize].take()).collect();
    let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let mut images: Vec<(Digest, u32)> = releases.iter().enumerate().map(|(i, r)| (r.image_digest, index(i))).collect();
    images.sort_unstable();
    let mut models: Vec<(Digest, u32)> = releases.iter().enumerate().filter_map(|(i, r)| Some((r.model?, index(i)))).collect();
    models.sort_unstable();
    let mut model_uris: Vec<(Box<str>, u32)> = model_uris.into_iter().map(|(u, old)| (u, renumber[old as usize])).collect();
    model_uris.sort_unstable();
    let mut repositories: Vec<(Box<str>, u32)> =
        releases.iter().enumerate().map(|(i, r)| (Box::from(Pin::of(&r.image).repository()), index(i))).collect();
    repositories.sort_unstable();
    Environment { name, mode, releases, images, models, model_uris, repositories, break_glass, platform }
}
