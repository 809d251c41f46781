//! The registry engines against each other: the same generated operation sequences (proptest) run on
//! the memory engine, on a real single Redis and on a real 3-master Redis Cluster, through the
//! `Registry` contract the server uses; every answer and the account's state after every step must be
//! identical. (The rule itself is the account ledger, tested against a model in `registry::ledger_model`;
//! this checks that each engine stores it and reports its events faithfully.)

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::redis::{Redis, RedisCluster};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tim_protocol::{KickType, Platform};
use tim_server::clock::Clock;
use tim_server::config::{Engine, RegistryConfig};
use tim_server::hub::Hub;
use tim_server::registry::ledger::Policy;
use tim_server::registry::memory::MemoryRegistry;
use tim_server::registry::redis::RedisRegistry;
use tim_server::registry::{AccountKey, AdmitRequest, Registry};

#[derive(Debug, Clone)]
enum Step {
    Admit {
        id: u8,
        conn: u64,
        limit: usize,
        presented: bool,
        sig: u64,
    },
    Logout {
        id: u8,
        conn: u64,
    },
    Drop {
        id: u8,
        conn: u64,
    },
    Expired {
        id: u8,
        conn: u64,
    },
    Idle {
        id: u8,
        conn: u64,
    },
    KickAll {
        secs: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0u8..5, 1u64..5, 1usize..4, any::<bool>(), 98u64..112)
            .prop_map(|(id, conn, limit, presented, sig)| Step::Admit { id, conn, limit, presented, sig }),
        1 => (0u8..5, 1u64..5).prop_map(|(id, conn)| Step::Logout { id, conn }),
        2 => (0u8..5, 1u64..5).prop_map(|(id, conn)| Step::Drop { id, conn }),
        1 => (0u8..5, 1u64..5).prop_map(|(id, conn)| Step::Expired { id, conn }),
        1 => (0u8..5, 1u64..5).prop_map(|(id, conn)| Step::Idle { id, conn }),
        1 => (98u64..110).prop_map(|secs| Step::KickAll { secs }),
    ]
}

/// What one step answered and the account's state after it, engine-neutral.
type Observed = (String, Vec<(String, bool)>, Option<u64>);

async fn run(engine: &dyn Registry, user: &str, steps: &[Step]) -> Vec<Observed> {
    let account = AccountKey {
        sdk_app_id: 1,
        user_id: user.to_string(),
    };
    let name = |id: u8| format!("i{id}");
    // The engines read their own time (Redis: its `TIME`): no step here depends on it (the grace is long).
    let now = Clock::system().unix_ms();
    let mut out = Vec::new();
    for s in steps {
        let answer = match *s {
            Step::Admit {
                id,
                conn,
                limit,
                presented,
                sig,
            } => {
                let req = AdmitRequest {
                    account: account.clone(),
                    instance_id: name(id),
                    presented,
                    conn,
                    platform: Platform::Web,
                    limit,
                    sig_time: sig,
                    now_ms: now,
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                };
                match engine.admit(req).await {
                    Ok(a) => {
                        let evicted: Vec<_> = a.evicted.iter().map(|e| (e.instance_id.clone(), e.conn)).collect();
                        format!(
                            "ok resumed={} replaced={:?} evicted={evicted:?}",
                            a.resumed, a.replaced_conn
                        )
                    }
                    Err(e) => format!("{e:?}"),
                }
            }
            Step::Logout { id, conn } => format!("{:?}", engine.release(&account, &name(id), conn, now).await),
            Step::Drop { id, conn } => format!("{:?}", engine.detach(&account, &name(id), conn, 600_000, now).await),
            Step::Expired { id, conn } => {
                let kick = Some(KickType::UserSigExpired);
                format!(
                    "{:?}",
                    engine.remove_instance(&account, &name(id), conn, kick, now).await
                )
            }
            Step::Idle { id, conn } => {
                format!(
                    "{:?}",
                    engine.remove_instance(&account, &name(id), conn, None, now).await
                )
            }
            Step::KickAll { secs } => {
                let removed = engine.kick_account(&account, secs, now).await.expect("kick").removed;
                format!(
                    "{:?}",
                    removed.iter().map(|e| (&e.instance_id, e.conn)).collect::<Vec<_>>()
                )
            }
        };
        let instances = engine
            .instances(&account)
            .await
            .expect("instances")
            .into_iter()
            .map(|i| (i.instance_id, i.conn.is_some()))
            .collect();
        out.push((
            answer,
            instances,
            engine.revoked_at(&account).await.expect("revoked_at"),
        ));
    }
    out
}

async fn redis_engine(config: RegistryConfig, node: &str) -> Arc<dyn Registry> {
    let registry = RedisRegistry::start(
        &config,
        node.to_string(),
        Arc::new(Hub::default()),
        60_000,
        Policy::default(),
        Clock::system(),
    )
    .await
    .expect("registry on Redis");
    Arc::new(registry)
}

#[test]
fn memory_single_redis_and_redis_cluster_answer_alike() {
    let redis = Redis::start();
    let cluster = RedisCluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engines = rt.block_on(async {
        let single = RegistryConfig {
            engine: Engine::Redis,
            url: Some(redis.url()),
            ..RegistryConfig::default()
        };
        let clustered = RegistryConfig {
            engine: Engine::Redis,
            cluster: cluster.nodes.iter().map(|n| n.url()).collect(),
            ..RegistryConfig::default()
        };
        [
            redis_engine(single, "engines-single").await,
            redis_engine(clustered, "engines-cluster").await,
        ]
    });
    let case = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        // A fresh account per case (and per shrink attempt): the Redis engines keep state between cases.
        let user = format!("user{}", case.fetch_add(1, Ordering::Relaxed));
        let memory = MemoryRegistry::new(Policy::default(), 100);
        let (want, got) = rt.block_on(async {
            let want = run(&memory, &user, &steps).await;
            let mut got = Vec::new();
            for engine in &engines {
                got.push(run(engine.as_ref(), &user, &steps).await);
            }
            (want, got)
        });
        for (name, observed) in ["single Redis", "Redis Cluster"].iter().zip(got) {
            for (i, (w, g)) in want.iter().zip(&observed).enumerate() {
                if w != g {
                    return Err(TestCaseError::fail(format!(
                        "{name}, step {i} {:?}: memory {w:?}, {name} {g:?}",
                        steps[i]
                    )));
                }
            }
        }
        Ok(())
    });
    drop(engines);
    if let Err(e) = result {
        panic!("{e}");
    }
}
