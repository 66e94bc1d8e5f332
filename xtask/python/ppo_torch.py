"""The PyTorch side of `cargo xtask bench`: PPO as CleanRL's `ppo.py` (discrete actions)
and `ppo_continuous_action.py` (continuous actions) run it, timed as a whole.

Same defaults (CleanRL's), same wrappers, same network (64-64 tanh actor and critic,
orthogonal init), no logging, no evaluation: the measurement is env steps per second of
training. Prints one JSON object on stdout:

    {"env": ..., "threads": ..., "steps": ..., "seconds": ..., "steps_per_second": ...,
     "cpu_seconds": ..., "steps_per_cpu_second": ..., "update_seconds": ...,
     "iterations": ..., "torch": ..., "gymnasium": ...}

(`cpu_seconds`: process CPU time, `time.process_time()`, all threads.)

Needs `torch` and `gymnasium` (0.29.1, the version the reference figures of issue 8 used);
one venv serves this and the JAX side (`ppo_jax.py`):

    python3 -m venv ~/.venvs/pdmrl-bench && ~/.venvs/pdmrl-bench/bin/pip install -r xtask/python/requirements-jax.txt
    PDMRL_BENCH_PYTHON=~/.venvs/pdmrl-bench/bin/python cargo xtask bench

Never a build or test dependency of pdmrl.
"""

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch.distributions.categorical import Categorical
from torch.distributions.normal import Normal


def discrete_defaults():
    # CleanRL ppo.py
    return dict(num_envs=4, num_steps=128, learning_rate=2.5e-4, num_minibatches=4,
                update_epochs=4, ent_coef=0.01)


def continuous_defaults():
    # CleanRL ppo_continuous_action.py
    return dict(num_envs=1, num_steps=2048, learning_rate=3e-4, num_minibatches=32,
                update_epochs=10, ent_coef=0.0)


def make_env(env_id, continuous, gamma):
    def thunk():
        env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        if continuous:
            env = gym.wrappers.FlattenObservation(env)
            env = gym.wrappers.ClipAction(env)
            env = gym.wrappers.NormalizeObservation(env)
            env = gym.wrappers.TransformObservation(env, lambda o: np.clip(o, -10, 10))
            env = gym.wrappers.NormalizeReward(env, gamma=gamma)
            env = gym.wrappers.TransformReward(env, lambda r: float(np.clip(r, -10, 10)))
        return env

    return thunk


def layer(i, o, std=np.sqrt(2), bias=0.0):
    lin = nn.Linear(i, o)
    nn.init.orthogonal_(lin.weight, std)
    nn.init.constant_(lin.bias, bias)
    return lin


class Agent(nn.Module):
    def __init__(self, obs_dim, n_out, continuous):
        super().__init__()
        self.continuous = continuous
        self.critic = nn.Sequential(layer(obs_dim, 64), nn.Tanh(), layer(64, 64), nn.Tanh(),
                                    layer(64, 1, std=1.0))
        self.actor = nn.Sequential(layer(obs_dim, 64), nn.Tanh(), layer(64, 64), nn.Tanh(),
                                   layer(64, n_out, std=0.01))
        if continuous:
            self.actor_logstd = nn.Parameter(torch.zeros(1, n_out))

    def value(self, x):
        return self.critic(x)

    def act(self, x, action=None):
        out = self.actor(x)
        if self.continuous:
            dist = Normal(out, torch.exp(self.actor_logstd.expand_as(out)))
            if action is None:
                action = dist.sample()
            return action, dist.log_prob(action).sum(1), dist.entropy().sum(1), self.critic(x)
        dist = Categorical(logits=out)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(x)


def train(env_id, total_timesteps, seed):
    probe = gym.make(env_id)
    continuous = isinstance(probe.action_space, gym.spaces.Box)
    probe.close()
    h = continuous_defaults() if continuous else discrete_defaults()
    gamma, lam, clip, vf_coef, max_grad_norm = 0.99, 0.95, 0.2, 0.5, 0.5
    n, t = h["num_envs"], h["num_steps"]
    batch = n * t
    minibatch = batch // h["num_minibatches"]
    iterations = total_timesteps // batch

    torch.manual_seed(seed)
    np.random.seed(seed)
    envs = gym.vector.SyncVectorEnv([make_env(env_id, continuous, gamma) for _ in range(n)])
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    n_out = int(np.prod(envs.single_action_space.shape)) if continuous \
        else int(envs.single_action_space.n)
    agent = Agent(obs_dim, n_out, continuous)
    opt = torch.optim.Adam(agent.parameters(), lr=h["learning_rate"], eps=1e-5)
    act_shape = envs.single_action_space.shape

    obs = torch.zeros((t, n, obs_dim))
    actions = torch.zeros((t, n) + act_shape)
    logprobs = torch.zeros((t, n))
    rewards = torch.zeros((t, n))
    dones = torch.zeros((t, n))
    values = torch.zeros((t, n))

    next_obs, _ = envs.reset(seed=seed)
    next_obs = torch.Tensor(next_obs)
    next_done = torch.zeros(n)
    update_seconds = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    for it in range(1, iterations + 1):
        opt.param_groups[0]["lr"] = (1.0 - (it - 1.0) / iterations) * h["learning_rate"]
        for step in range(t):
            obs[step] = next_obs
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.act(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            next_obs, reward, term, trunc, _ = envs.step(action.cpu().numpy())
            rewards[step] = torch.tensor(reward).view(-1)
            next_obs = torch.Tensor(next_obs)
            next_done = torch.Tensor(np.logical_or(term, trunc).astype(np.float32))
        u0 = time.perf_counter()
        with torch.no_grad():
            next_value = agent.value(next_obs).reshape(1, -1)
            adv = torch.zeros_like(rewards)
            last = 0
            for k in reversed(range(t)):
                if k == t - 1:
                    nonterminal, nextv = 1.0 - next_done, next_value
                else:
                    nonterminal, nextv = 1.0 - dones[k + 1], values[k + 1]
                delta = rewards[k] + gamma * nextv * nonterminal - values[k]
                adv[k] = last = delta + gamma * lam * nonterminal * last
            returns = adv + values
        b_obs = obs.reshape((-1, obs_dim))
        b_actions = actions.reshape((-1,) + act_shape)
        b_logprobs, b_adv = logprobs.reshape(-1), adv.reshape(-1)
        b_returns, b_values = returns.reshape(-1), values.reshape(-1)
        inds = np.arange(batch)
        for _ in range(h["update_epochs"]):
            np.random.shuffle(inds)
            for lo in range(0, batch, minibatch):
                mb = inds[lo:lo + minibatch]
                a = b_actions[mb] if continuous else b_actions.long()[mb]
                _, newlogp, entropy, newv = agent.act(b_obs[mb], a)
                ratio = (newlogp - b_logprobs[mb]).exp()
                mb_adv = b_adv[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg = torch.max(-mb_adv * ratio,
                               -mb_adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
                newv = newv.view(-1)
                v_unclipped = (newv - b_returns[mb]) ** 2
                v_clipped = b_values[mb] + torch.clamp(newv - b_values[mb], -clip, clip)
                v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b_returns[mb]) ** 2).mean()
                loss = pg - h["ent_coef"] * entropy.mean() + vf_coef * v_loss
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
                opt.step()
        update_seconds += time.perf_counter() - u0
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    envs.close()
    steps = iterations * batch
    return dict(steps=steps, seconds=seconds, steps_per_second=steps / seconds,
                cpu_seconds=cpu_seconds, steps_per_cpu_second=steps / cpu_seconds,
                update_seconds=update_seconds, iterations=iterations)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--total-timesteps", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = train(a.env, a.total_timesteps, a.seed)
    out.update(env=a.env, threads=a.threads, torch=torch.__version__,
               gymnasium=gym.__version__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
