//! Where originals live: a local directory or an S3-compatible bucket, behind
//! `object_store`, with one key layout for both.
//!
//! Key layout: `orgs/{org}/uploads/{upload_job}/bundle` for an uploaded bundle and
//! `orgs/{org}/uploads/{upload_job}/documents/{document}` for each accepted file;
//! `orgs/{org}/documents/{document}/{version}` for the content of a document given
//! through the API (a new version per update, so a reader never sees half of one).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::{Settings, StorageType};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the object is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("reading the upload failed: {0}")]
    Source(String),
    #[error("object not found")]
    NotFound,
    #[error("storage error: {0}")]
    Store(#[from] object_store::Error),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored object: its size and SHA-256 (hex), computed while it streamed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    kind: StorageType,
    local_root: Option<PathBuf>,
    /// The same S3 store, for presigned URLs (`None` on local disk).
    signer: Option<Arc<object_store::aws::AmazonS3>>,
}

pub fn bundle_key(org_id: &str, upload_job_id: &str) -> String {
    format!("orgs/{org_id}/uploads/{upload_job_id}/bundle")
}

pub fn document_key(org_id: &str, upload_job_id: &str, document_id: &str) -> String {
    format!("orgs/{org_id}/uploads/{upload_job_id}/documents/{document_id}")
}

pub fn library_document_key(org_id: &str, document_id: &str, version: &str) -> String {
    format!("orgs/{org_id}/documents/{document_id}/{version}")
}

impl Storage {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        match settings.storage_type {
            StorageType::Local => {
                let root = settings.storage_path();
                std::fs::create_dir_all(&root)?;
                let root = root.canonicalize()?;
                Ok(Self {
                    store: Arc::new(LocalFileSystem::new_with_prefix(&root)?),
                    kind: StorageType::Local,
                    local_root: Some(root),
                    signer: None,
                })
            }
            StorageType::S3 => {
                let bucket = settings
                    .s3_bucket
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("S3_BUCKET is required when STORAGE_TYPE=s3"))?;
                // Credentials come from the standard AWS_* environment variables.
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(&settings.s3_region);
                if let (Some(id), Some(secret)) =
                    (&settings.s3_access_key_id, &settings.s3_secret_access_key)
                {
                    builder = builder
                        .with_access_key_id(id.expose())
                        .with_secret_access_key(secret.expose());
                }
                if let Some(endpoint) = &settings.s3_endpoint {
                    // S3-compatible stores on a custom endpoint (MinIO, moto) want
                    // path-style requests and may be plain HTTP on a private network.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let s3 = Arc::new(builder.build()?);
                Ok(Self {
                    store: s3.clone(),
                    kind: StorageType::S3,
                    local_root: None,
                    signer: Some(s3),
                })
            }
        }
    }

    /// A presigned GET URL for `key`, valid for `expires_in`, on S3; `None` on local
    /// disk (whose links Quire signs itself: `documents::signed_url`).
    pub async fn presigned_get_url(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        use object_store::signer::Signer;
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(http::Method::GET, &ObjectPath::from(key), expires_in)
            .await?;
        Ok(Some(url.to_string()))
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            StorageType::Local => "local",
            StorageType::S3 => "s3",
        }
    }

    /// Streams `body` into `key`, hashing as it goes and never holding more than one
    /// part in memory. Past `max_bytes` the upload is aborted and nothing remains.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        body: S,
        max_bytes: u64,
    ) -> Result<StoredObject, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = ObjectPath::from(key);
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut body = body;
        let outcome: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StorageError::Source(e.to_string()))?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(StorageError::TooLarge { limit: max_bytes });
                }
                hasher.update(&chunk);
                // Bounded memory: wait while more than two parts are in flight.
                writer.wait_for_capacity(2).await?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => {
                writer.finish().await?;
                Ok(StoredObject {
                    key: key.to_owned(),
                    size,
                    sha256: hex::encode(hasher.finalize()),
                })
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "could not abort a partial upload");
                }
                // Some stores write the object before `complete`; make sure nothing stays.
                let _ = self.store.delete(&path).await;
                Err(e)
            }
        }
    }

    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&ObjectPath::from(key), bytes.into()).await?;
        Ok(())
    }

    /// The object as a stream of chunks, for downloads.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<
        (
            u64,
            impl Stream<Item = Result<Bytes, object_store::Error>> + use<>,
        ),
        StorageError,
    > {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => {
                let size = result.meta.size;
                Ok((size, result.into_stream()))
            }
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// A local file with the object's bytes: the file itself for local storage, or a
    /// temporary copy (removed when dropped) for S3.
    pub async fn local_copy(&self, key: &str) -> Result<LocalCopy, StorageError> {
        if let Some(root) = &self.local_root {
            let path = root.join(key);
            if tokio::fs::metadata(&path).await.is_ok() {
                return Ok(LocalCopy::Borrowed(path));
            }
            return Err(StorageError::NotFound);
        }
        let (_, mut stream) = self.get_stream(key).await?;
        let temp = tempfile::NamedTempFile::new()?;
        let mut file = tokio::fs::File::from_std(temp.reopen()?);
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).await?;
        }
        file.flush().await?;
        Ok(LocalCopy::Temporary(temp))
    }

    /// The whole object in memory: only for single documents handed to a backend.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys under `prefix`, for tests and cleanup.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = ObjectPath::from(prefix);
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            out.push(meta?.location.to_string());
        }
        Ok(out)
    }

    /// Write, read back and delete a small object.
    pub async fn probe(&self) -> Result<(), String> {
        let key = format!("health/probe-{}", uuid::Uuid::now_v7());
        let path = ObjectPath::from(key.as_str());
        self.store
            .put(&path, Bytes::from_static(b"ok").into())
            .await
            .map_err(|e| {
                format!(
                    "cannot write to {} storage: {}",
                    self.kind_name(),
                    short(&e)
                )
            })?;
        let _ = self.store.delete(&path).await;
        Ok(())
    }
}

fn short(e: &object_store::Error) -> String {
    let s = e.to_string();
    s.chars().take(200).collect()
}

pub enum LocalCopy {
    Borrowed(PathBuf),
    Temporary(tempfile::NamedTempFile),
}

impl LocalCopy {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Borrowed(p) => p,
            Self::Temporary(t) => t.path(),
        }
    }
}
