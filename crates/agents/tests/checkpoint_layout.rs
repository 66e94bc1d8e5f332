//! Checkpoint tensors carry the names and layout of CleanRL's `Agent` (PyTorch's
//! `nn.Linear` stores `weight` as `[out, in]`), so `agent.load_state_dict(load_file(...))`
//! works in Python; and a policy loaded from them acts as the original.

use pdmrl_agents::checkpoint::{decode_safetensors, encode_safetensors};
use pdmrl_agents::{Agent, AgentConfig, Algo, TensorData, TrainerConfig};
use pdmrl_envs::{ClipAction, Env, Registry, SyncVectorEnv};

fn agent(env_id: &str, seed: u64) -> Agent {
    let registry = Registry::with_builtins();
    let env: Box<dyn Env> = Box::new(ClipAction::new(registry.make(env_id).unwrap()));
    let continuous = env_id == "Pendulum-v1";
    let config = AgentConfig {
        num_envs: 1,
        num_minibatches: 1,
        ..AgentConfig::defaults(Algo::Ppo, env_id, continuous)
    };
    Agent::new(
        config,
        TrainerConfig::default(),
        SyncVectorEnv::new(vec![env]).unwrap(),
        seed,
    )
    .unwrap()
}

fn layout(a: &Agent) -> Vec<(String, Vec<usize>)> {
    a.model_tensors()
        .into_iter()
        .map(|t| (t.name, t.shape))
        .collect()
}

#[test]
fn names_and_shapes_are_cleanrls() {
    let names = |prefix: &str, out: usize, obs: usize| {
        vec![
            (format!("{prefix}.0.weight"), vec![64, obs]),
            (format!("{prefix}.0.bias"), vec![64]),
            (format!("{prefix}.2.weight"), vec![64, 64]),
            (format!("{prefix}.2.bias"), vec![64]),
            (format!("{prefix}.4.weight"), vec![out, 64]),
            (format!("{prefix}.4.bias"), vec![out]),
        ]
    };
    let discrete = agent("CartPole-v1", 1);
    let mut want = names("actor", 2, 4);
    want.extend(names("critic", 1, 4));
    assert_eq!(layout(&discrete), want);
    let gaussian = agent("Pendulum-v1", 1);
    let mut want = names("actor_mean", 1, 3);
    want.extend(names("critic", 1, 3));
    want.push(("actor_logstd".into(), vec![1, 1]));
    assert_eq!(layout(&gaussian), want);
    // PyTorch's [out, in] is the transpose of ours.
    let t = &discrete.model_tensors()[0];
    let TensorData::F32(w) = &t.data else {
        panic!("f32")
    };
    let ours = &discrete.model().actor.hidden[0].weight;
    assert_eq!(
        w[4 + 3],
        ours[[3, 1]],
        "row 1 (output 1), column 3 (input 3)"
    );
}

#[test]
fn a_loaded_policy_acts_as_the_original() {
    for env_id in ["CartPole-v1", "Pendulum-v1"] {
        let a = agent(env_id, 1);
        let mut b = agent(env_id, 2); // other weights
        let ckpt = a.checkpoint();
        let bytes = encode_safetensors(&ckpt.model).unwrap();
        let restored = pdmrl_agents::Checkpoint {
            model: decode_safetensors(&bytes).unwrap(),
            ..ckpt
        };
        b.load_policy(&restored).unwrap();
        let obs = a.envs().envs()[0].observation_space();
        let x = ndarray::Array2::from_shape_fn((8, obs.flat_dim()), |(i, j)| {
            ((i * 7 + j * 3) as f32 * 0.41).sin()
        });
        let mut r = pdmrl_tensor::rng_from_seed(0);
        assert_eq!(
            a.act(x.view(), true, &mut r),
            b.act(x.view(), true, &mut r),
            "{env_id}"
        );
        assert_eq!(a.model().actor, b.model().actor);
        assert_eq!(a.model().critic, b.model().critic);
        assert_eq!(a.model().log_std, b.model().log_std);
    }
}
