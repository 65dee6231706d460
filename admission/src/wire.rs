//! Reading an `AdmissionReview` from its JSON in one pass.
//!
//! kube-core's `AdmissionReview` and `DynamicObject` find their `apiVersion` and `kind` with
//! `#[serde(flatten)]`, which makes serde buffer everything around them first: the whole review
//! is copied into serde's intermediate tree, then the request read from that copy, then each
//! object copied again before it becomes its `serde_json::Value`. Every review the API server
//! sends paid for three copies of its objects. Here the envelope's two strings are read beside
//! the request, and each object by a visitor that reads `apiVersion`, `kind` and `metadata` as
//! they come and keeps the other fields as the object's data, so the request is kube-core's
//! `AdmissionRequest`, read once, and its objects are kube-core's `DynamicObject`s, equal to
//! what kube-core's own `Deserialize` gives (tested against it:
//! `tests::the_one_pass_reader_reads_objects_as_kube_core_does`).

use std::borrow::Cow;
use std::fmt;

use kube_core::admission::AdmissionRequest;
use kube_core::{ApiResource, DynamicObject, DynamicResourceScope, ObjectMeta, Resource, TypeMeta};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// An `AdmissionReview`'s fields that tollgate reads: the envelope's type and the request (a
/// review's `response`, which only a webhook writes, is skipped).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Envelope {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) request: Option<AdmissionRequest<Object>>,
}

/// A `DynamicObject` read in one pass (see the module's documentation).
#[derive(Debug, Clone)]
pub(crate) struct Object(pub(crate) DynamicObject);

/// The request with its objects as kube-core's `DynamicObject`.
pub(crate) fn into_dynamic(request: AdmissionRequest<Object>) -> AdmissionRequest<DynamicObject> {
    AdmissionRequest {
        types: request.types,
        uid: request.uid,
        kind: request.kind,
        resource: request.resource,
        sub_resource: request.sub_resource,
        request_kind: request.request_kind,
        request_resource: request.request_resource,
        request_sub_resource: request.request_sub_resource,
        name: request.name,
        namespace: request.namespace,
        operation: request.operation,
        user_info: request.user_info,
        object: request.object.map(|o| o.0),
        old_object: request.old_object.map(|o| o.0),
        dry_run: request.dry_run,
        options: request.options,
    }
}

impl Resource for Object {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::group(dt)
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::version(dt)
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::kind(dt)
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::api_version(dt)
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let mut data = Map::new();
        let mut metadata: Option<ObjectMeta> = None;
        let mut types = TypeFields::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => {
                    if metadata.is_some() {
                        return Err(de::Error::duplicate_field("metadata"));
                    }
                    metadata = Some(map.next_value()?);
                }
                "apiVersion" | "kind" if !types.failed => types.read(&key, map.next_value()?),
                // As kube-core's flattened data: the last of duplicate keys wins.
                _ => drop(data.insert(key, map.next_value()?)),
            }
        }
        Ok(Object(DynamicObject { types: types.finish(), metadata: metadata.unwrap_or_default(), data: Value::Object(data) }))
    }
}

/// `apiVersion` and `kind` as kube-core's flattened `Option<TypeMeta>` reads them: each is
/// taken out of the object's data as it comes, until one is not a string or comes twice; from
/// then on they stay in the data, and the object has no `types` (nor has it when one is
/// missing).
#[derive(Default)]
struct TypeFields {
    api_version: Option<String>,
    kind: Option<String>,
    failed: bool,
}

impl TypeFields {
    fn read(&mut self, key: &str, value: Value) {
        let slot = if key == "kind" { &mut self.kind } else { &mut self.api_version };
        match value {
            Value::String(s) if slot.is_none() => *slot = Some(s),
            _ => self.failed = true,
        }
    }

    fn finish(self) -> Option<TypeMeta> {
        match (self.api_version, self.kind, self.failed) {
            (Some(api_version), Some(kind), false) => Some(TypeMeta { api_version, kind }),
            _ => None,
        }
    }
}
