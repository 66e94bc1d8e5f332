"""The JAX side of `cargo xtask bench`: PPO as PureJaxRL's `ppo.py` runs it, with CleanRL's
`ppo.py` hyperparameters, on gymnax's `CartPole-v1`, timed as a whole.

The whole training run -- env steps, rollout, GAE, every epoch and minibatch of every
iteration -- is ONE jit-compiled function (`lax.scan` over iterations and over steps),
`jax.vmap`ped over seeds (also for `--seeds 1`). CleanRL's defaults: 4 envs x 128 steps
(batch 512), lr 2.5e-4 linearly annealed to 0 over the iterations, gamma 0.99, GAE lambda
0.95, 4 minibatches, 4 epochs, clip 0.2 for the policy ratio and the value loss, entropy
0.01, value 0.5, global grad-norm clip 0.5, per-minibatch advantage normalisation
(unbiased std, as torch's), Adam eps 1e-5; separate 64-64 tanh actor and critic MLPs,
orthogonal init (sqrt 2 hidden, 0.01 actor head, 1.0 critic head), zero biases. gymnax
auto-resets inside `step`; its CartPole `done` includes the 500-step truncation, which is
treated as terminal (no bootstrap), as CleanRL does with `terminated or truncated`.

Compilation is timed apart from the run (`jax.jit(train).lower(keys).compile()`); the run
is the compiled function under `jax.block_until_ready`, timed by wall clock and by process
CPU time (`time.process_time()`, all threads of the process).

One thread: the process is pinned to one CPU with `os.sched_setaffinity` before jax is
imported (`--cpu K`, default the first CPU it may run on). That pin is what makes XLA
single-threaded: jaxlib sizes its intra-op pool by the CPUs the process may use and runs
independent ops of the program concurrently on it, and no XLA flag sets that size. The
usual XLA_FLAGS recipe, `--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`,
is set too (appended to any XLA_FLAGS already set), but only its first part is an XLA flag
and neither bounds that pool. Unpinned on a 2-CPU machine, jaxlib 0.10.2 also
deadlocked here in the vmapped batched QR of the orthogonal init (two QR ops each waiting
for pool threads the other holds). Prints one JSON object on stdout's last line:

    {"env": "CartPole-v1", "seeds": ..., "steps_per_seed": ..., "compile_seconds": ...,
     "seconds": ..., "cpu_seconds": ..., "steps_per_second": ...,
     "steps_per_cpu_second": ..., "final_return": ..., "final_returns": [...],
     "jax": ..., "gymnax": ..., "flax": ..., "optax": ...}

`steps_per_seed` is iterations * 512 (the timesteps actually run); `steps_per_second` and
`steps_per_cpu_second` count the steps of all seeds. `final_returns` holds, per seed, the
mean undiscounted return of the episodes that finished in the last 10 iterations (5,120
steps per seed); `final_return` is their mean over seeds.

Needs `jax`, `flax`, `optax` and `gymnax`; `xtask/python/requirements-jax.txt` pins them
together with `ppo_torch.py`'s `torch` and `gymnasium==0.29.1`, so one venv serves the
whole bench:

    python3 -m venv ~/.venvs/pdmrl-bench && ~/.venvs/pdmrl-bench/bin/pip install -r xtask/python/requirements-jax.txt
    ~/.venvs/pdmrl-bench/bin/python xtask/python/ppo_jax.py --total-timesteps 500000 --seeds 8

Never a build or test dependency of pdmrl.
"""

import argparse
import json
import os
import sys
import time

LAST_ITERATIONS = 10  # final_return: episodes finished in this many last iterations


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--total-timesteps", type=int, default=100_000,
                   help="timesteps per seed (rounded down to whole iterations of 512)")
    p.add_argument("--seeds", type=int, default=1, help="seeds run at once under jax.vmap")
    p.add_argument("--seed", type=int, default=0, help="base seed (keys split from it)")
    p.add_argument("--cpu", type=int, default=None,
                   help="the one CPU to pin the process to (default: the first allowed)")
    return p.parse_args()


def main():
    a = parse_args()
    # One thread, set before jax is imported (see the docstring): the pin sizes XLA's pool.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0)) if a.cpu is None else a.cpu})
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                               "=false intra_op_parallelism_threads=1").strip()

    from importlib.metadata import version

    import flax.linen as nn
    import gymnax
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax.linen.initializers import constant, orthogonal

    env_id = "CartPole-v1"
    num_envs, num_steps = 4, 128
    lr, gamma, lam = 2.5e-4, 0.99, 0.95
    num_minibatches, update_epochs = 4, 4
    clip, ent_coef, vf_coef, max_grad_norm = 0.2, 0.01, 0.5, 0.5
    batch = num_envs * num_steps
    minibatch = batch // num_minibatches
    iterations = a.total_timesteps // batch
    if iterations < 1:
        sys.exit(f"--total-timesteps must be at least {batch}")

    env, env_params = gymnax.make(env_id)
    n_actions = env.action_space(env_params).n
    obs_shape = env.observation_space(env_params).shape

    def mlp(x, out, head_scale):
        for _ in range(2):
            x = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)),
                                 bias_init=constant(0.0))(x))
        return nn.Dense(out, kernel_init=orthogonal(head_scale), bias_init=constant(0.0))(x)

    class ActorCritic(nn.Module):
        @nn.compact
        def __call__(self, x):
            logits = mlp(x, n_actions, 0.01)
            value = mlp(x, 1, 1.0)
            return logits, jnp.squeeze(value, -1)

    network = ActorCritic()

    def schedule(count):
        # CleanRL: lr * (1 - (iteration - 1) / iterations), per iteration.
        return lr * (1.0 - (count // (num_minibatches * update_epochs)) / iterations)

    tx = optax.chain(optax.clip_by_global_norm(max_grad_norm),
                     optax.adam(learning_rate=schedule, eps=1e-5))

    def train(key):
        key, k_init, k_reset = jax.random.split(key, 3)
        params = network.init(k_init, jnp.zeros(obs_shape))
        opt_state = tx.init(params)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, num_envs), env_params)
        ep_return = jnp.zeros(num_envs)

        def iteration(carry, _):
            params, opt_state, env_state, obs, ep_return, key = carry

            def env_step(c, _):
                env_state, obs, ep_return, key = c
                key, k_act, k_step = jax.random.split(key, 3)
                logits, value = network.apply(params, obs)
                action = jax.random.categorical(k_act, logits)
                logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], 1)[:, 0]
                next_obs, env_state, reward, done, _ = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None))(
                        jax.random.split(k_step, num_envs), env_state, action, env_params)
                ep_return = ep_return + reward
                finished = jnp.where(done, ep_return, 0.0)
                ep_return = jnp.where(done, 0.0, ep_return)
                tr = (obs, action, logp, value, reward, done.astype(jnp.float32))
                return (env_state, next_obs, ep_return, key), (tr, finished, done)

            (env_state, obs, ep_return, key), (traj, finished, done) = jax.lax.scan(
                env_step, (env_state, obs, ep_return, key), None, num_steps)
            t_obs, t_act, t_logp, t_val, t_rew, t_done = traj

            # GAE: t_done[k] ends the episode after step k (no bootstrap past it).
            _, last_val = network.apply(params, obs)

            def gae_step(c, x):
                gae, next_val = c
                done, val, rew = x
                delta = rew + gamma * next_val * (1.0 - done) - val
                gae = delta + gamma * lam * (1.0 - done) * gae
                return (gae, val), gae

            _, adv = jax.lax.scan(gae_step, (jnp.zeros(num_envs), last_val),
                                  (t_done, t_val, t_rew), reverse=True, unroll=16)
            ret = adv + t_val
            flat = jax.tree_util.tree_map(lambda x: x.reshape((batch,) + x.shape[2:]),
                                          (t_obs, t_act, t_logp, t_val, adv, ret))

            def loss_fn(params, mb):
                obs, act, old_logp, old_val, adv, ret = mb
                logits, value = network.apply(params, obs)
                logps = jax.nn.log_softmax(logits)
                logp = jnp.take_along_axis(logps, act[:, None], 1)[:, 0]
                entropy = -(jnp.exp(logps) * logps).sum(-1).mean()
                ratio = jnp.exp(logp - old_logp)
                adv = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
                pg = jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1 - clip, 1 + clip)).mean()
                v_clipped = old_val + jnp.clip(value - old_val, -clip, clip)
                v_loss = 0.5 * jnp.maximum((value - ret) ** 2, (v_clipped - ret) ** 2).mean()
                return pg - ent_coef * entropy + vf_coef * v_loss

            def epoch(c, _):
                params, opt_state, key = c
                key, k_perm = jax.random.split(key)
                perm = jax.random.permutation(k_perm, batch)
                mbs = jax.tree_util.tree_map(
                    lambda x: x[perm].reshape((num_minibatches, minibatch) + x.shape[1:]), flat)

                def update(c, mb):
                    params, opt_state = c
                    grads = jax.grad(loss_fn)(params, mb)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                (params, opt_state), _ = jax.lax.scan(update, (params, opt_state), mbs)
                return (params, opt_state, key), None

            (params, opt_state, key), _ = jax.lax.scan(
                epoch, (params, opt_state, key), None, update_epochs)
            metrics = (finished.sum(), done.sum())
            return (params, opt_state, env_state, obs, ep_return, key), metrics

        carry = (params, opt_state, env_state, obs, ep_return, key)
        _, (return_sum, episodes) = jax.lax.scan(iteration, carry, None, iterations)
        return return_sum, episodes

    keys = jax.random.split(jax.random.PRNGKey(a.seed), a.seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_seconds = time.perf_counter() - t0

    w0, c0 = time.perf_counter(), time.process_time()
    return_sum, episodes = jax.block_until_ready(compiled(keys))
    cpu_seconds = time.process_time() - c0
    seconds = time.perf_counter() - w0

    tail = min(LAST_ITERATIONS, iterations)
    r = np.asarray(return_sum)[:, -tail:].sum(1)
    n = np.asarray(episodes)[:, -tail:].sum(1)
    final_returns = [float(x) for x in r / np.maximum(n, 1)]
    steps = iterations * batch
    total = steps * a.seeds
    print(json.dumps(dict(
        env=env_id, seeds=a.seeds, steps_per_seed=steps, compile_seconds=compile_seconds,
        seconds=seconds, cpu_seconds=cpu_seconds, steps_per_second=total / seconds,
        steps_per_cpu_second=total / cpu_seconds, final_return=float(np.mean(final_returns)),
        final_returns=final_returns, jax=jax.__version__, gymnax=version("gymnax"),
        flax=version("flax"), optax=version("optax"))))


if __name__ == "__main__":
    main()
