"""MASA-efficient controls and meta-path plumbing, against hand-computed values."""

import math

import pytest

from masa_lite.efficient import cutoff
from masa_lite.efficient import expert_sft
from masa_lite.efficient import feed_in
from masa_lite.efficient import gate
from masa_lite.efficient import plan as efficient_plan
from masa_lite.meta import credit
from masa_lite.meta import scoring as meta_scoring
from masa_lite import stats
from masa_lite import supervised
from masa_lite.config import load_config, ConfigError
from masa_lite.meta.answer import format_meta_answer, parse_meta
from masa_lite.grpo.rollout import Rollout


def test_gate_agreeing_extremes_only():
    preds = [
        [1.0, 1.0, 0.875],      # mean .958, std .059 → trivial → gate
        [0.0, 0.0, 0.0],        # unsolvable → gate
        [0.5, 0.5, 0.5],        # agree but in the middle → keep
        [1.0, 0.0, 1.0],        # extreme mean? no: disagree → keep
        [1.0],                  # one vote is not enough → keep
        [],                     # no parse → keep
    ]
    assert gate.gate_prompts(preds, std_max=0.1, margin=0.1) == [True, True, False, False, False, False]
    # a tighter margin keeps the first prompt
    assert gate.gate_prompts(preds[:1], std_max=0.1, margin=0.03) == [False]


def test_level_gate_by_hand():
    """The free baseline: a level's running pass rate over the window; gated at ≥ 1 − margin or
    ≤ margin; a level with no data, or a prompt with no level, is never gated."""
    st = [meta_scoring.PromptStats(["a"] * 4, c, [5] * 4) for c in
          ([True] * 4, [True, True, True, False], [False] * 4, [True, False, False, False])]
    step = gate.level_window_step([1, 1, 6, 6], st)
    assert step == {1: [1.0, 0.75], 6: [0.0, 0.25]}
    assert gate.level_window_step([None, 2], [st[0], None]) == {}
    rates = gate.level_pass_rates([step, {1: [1.0], 3: [0.5]}])
    assert rates == {1: pytest.approx(2.75 / 3), 6: 0.125, 3: 0.5}
    assert gate.level_gate([1, 6, 3, 4, None], rates, margin=0.1) == [True, False, False, False, False]
    assert gate.level_gate([6], rates, margin=0.2) == [True]


def test_gate_records_weight_by_the_gate_that_sampled():
    """A shadow gate judged on the real gate's rolled-out prompts: each record's weight is the
    real gate's (1/audit share for the prompts it gated and audited)."""
    st = [meta_scoring.PromptStats(["a"] * 2, c, [5] * 2) for c in ([True, True], [True, False])]
    assert gate.gate_records([True, False], st, 0.25) == [(True, True, 4.0), (False, False, 1.0)]
    assert gate.gate_records([False, True], st, 0.25, sampled_by=[True, False]) == [
        (False, True, 4.0), (True, False, 1.0)]


def test_level_gate_needs_no_meta_path_but_the_cutoff_does():
    cfg = load_config("tiny", overrides=["efficient.gating=true", "efficient.gate_source=level"])
    assert cfg.efficient.gate_source == "level" and not cfg.meta.enabled
    with pytest.raises(ConfigError, match="meta.enabled=true"):
        load_config("tiny", overrides=["efficient.gating=true", "efficient.gate_source=level",
                                       "efficient.cutoff=true"])
    with pytest.raises(ConfigError, match="gate_source"):
        load_config("tiny", overrides=["efficient.gate_source=oracle"])


def test_cutoff_budget():
    assert cutoff.cutoff_budget([40, 60], factor=2.0) == 100
    assert cutoff.cutoff_budget([40, 61], factor=2.0) == 101  # ceil(2 × 50.5)
    assert cutoff.cutoff_budget([300], factor=2.0, max_new_tokens=400) == 400
    assert cutoff.cutoff_budget([1], factor=2.0) == 8  # floor
    assert cutoff.cutoff_budget([], factor=2.0) is None


def test_prf_hand_values_and_weights():
    pred = [True, True, False, False, True]
    act = [True, False, True, False, True]
    r = stats.prf(pred, act)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 1, 1)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    w = stats.prf(pred, act, weights=[4, 4, 1, 1, 1])  # audited positives stand for 4 each
    assert w["precision"] == pytest.approx(5 / 9) and w["recall"] == pytest.approx(5 / 6)
    empty = stats.prf([False, False], [False, False])
    assert math.isnan(empty["precision"]) and math.isnan(empty["f1"])


def test_calibration():
    c = stats.calibration([0.0, 0.5, 1.0], [0.0, 0.5, 1.0])
    assert c["corr"] == pytest.approx(1.0) and c["mae"] == 0.0
    c = stats.calibration([0.0, 0.5, 1.0], [1.0, 0.5, 0.0])
    assert c["corr"] == pytest.approx(-1.0) and c["mae"] == pytest.approx(2 / 3)
    assert math.isnan(stats.calibration([0.3, 0.3], [0.0, 1.0])["corr"])
    # a collapsed predictor whose constant is not exact in binary: its std rounds to ~1e-17, and
    # np.corrcoef turns that rounding noise into an arbitrary r (here 0.0) instead of "undefined"
    assert math.isnan(stats.calibration([0.1] * 6, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])["corr"])


def test_feed_in_takes_most_common_normalised_notions():
    got = feed_in.feed_in_notions([["Split", "carry"], ["split"], ["borrows", "split", "carry"]], top=2)
    assert got == ["split", "carry"]


def _ro(i, text, correct=None, length=None):
    return Rollout(i, "p", text, [], length if length is not None else len(text), "eos", correct)


def test_prompt_stats_and_expert_sft_targets():
    cfg = load_config("tiny", overrides=["meta.enabled=true", "efficient.expert_sft=true"])
    sols = [_ro(0, "mul split 12*3=36", True, 20), _ro(0, "mul 12*3=35", False, 12),
            _ro(0, "mul split 12*3=36", True, 30), _ro(0, "mul 12*3=34", False, 13)]
    stats = meta_scoring.prompt_stats(sols, 2)
    assert stats[1] is None
    assert stats[0].pass_rate == 0.5 and stats[0].correct_lengths == [20, 30]
    assert not stats[0].zero_variance
    good = format_meta_answer("mul, 1 steps", ["split"], 1, 99)   # split: in both correct only
    bad = format_meta_answer("mul, 1 steps", ["mul"], 8, 10)      # mul: in all four → f1−f0 = 0
    metas = [_ro(0, bad), _ro(0, good)]
    preds = [parse_meta(m.text) for m in metas]
    recs = [{"problem": "12*3"}, {"problem": "1+1"}]
    pairs = expert_sft.expert_sft_examples(metas, preds, recs, stats, cfg, lambda r: "meta " + r["problem"] + "\n")
    assert pairs == [("meta 12*3\n", format_meta_answer("mul, 1 steps", ["split"], 4, 25))]
    rewards, parts, per_rollout = meta_scoring.score_meta(metas, preds, recs, stats, cfg)
    # bad: r_pass = 0.01^|1−0.5| = 0.1, r_len = 0 (10 ∉ [20, 30]), r_notion = 0
    # good: r_pass = 0.01^|0.125−0.5| = 0.01^0.375, r_len = 0 (99 ∉ [20, 30]), r_notion = 1
    assert rewards[0] == pytest.approx(0.1 / 3)
    assert rewards[1] == pytest.approx((0.01 ** 0.375 + 1) / 3)
    assert parts["r_notion"] == pytest.approx(0.5)
    assert per_rollout[0] == pytest.approx((0.1, 0.0, 0.0))
    assert per_rollout[1] == pytest.approx((0.01 ** 0.375, 0.0, 1.0))


def test_efficient_switches_need_the_meta_path():
    with pytest.raises(ConfigError, match="need the meta path"):
        load_config("tiny", overrides=["efficient.gating=true"])
    with pytest.raises(ConfigError, match="at least one of meta.reward_pass"):
        load_config("tiny", overrides=["meta.enabled=true", "meta.reward_pass=false",
                                       "meta.reward_length=false", "meta.reward_notion=false"])


def test_supervised_batch_masks_prompt_and_padding_even_when_pad_is_eos():
    class Tok:  # a real-model-like tokenizer: pads with EOS
        pad_token_id = eos_token_id = 9

        def encode(self, text, add_special_tokens=False):
            return [int(c) for c in text]

    b = supervised.supervised_batch(Tok(), [("12", "3"), ("1", "45")], "cpu")
    assert b["input_ids"].tolist() == [[1, 2, 3, 9], [1, 4, 5, 9]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert b["labels"].tolist() == [[-100, -100, 3, 9], [-100, 4, 5, 9]]
    b = supervised.supervised_batch(Tok(), [("1", "2"), ("1", "234")], "cpu")
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert b["labels"].tolist() == [[-100, 2, 9, -100, -100], [-100, 2, 3, 4, 9]]


def test_supervised_batch_can_label_only_the_corrected_values():
    """efficient.sft_labels=values: the pass_rate and solution_length values are the only labels."""
    class Tok:  # one character per token
        pad_token_id = eos_token_id = 0

        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

        def decode(self, ids, skip_special_tokens=True):
            return "".join(chr(i) for i in ids if i)

    answer = '<meta>x</meta>{"math_notion": ["add"], "pass_rate": 6, "solution_length": 42}'
    b = supervised.supervised_batch(Tok(), [("p:", answer)], "cpu", label_fields=("pass", "length"))
    labelled = "".join(chr(t) for t in b["labels"][0].tolist() if t != -100)
    assert labelled == "642"
    b = supervised.supervised_batch(Tok(), [("p:", answer)], "cpu", label_fields=("pass",))
    assert [chr(t) for t in b["labels"][0].tolist() if t != -100] == ["6"]
    whole = supervised.supervised_batch(Tok(), [("p:", answer)], "cpu")  # the paper: the whole answer
    assert sum(t != -100 for t in whole["labels"][0].tolist()) == len(answer) + 1  # + EOS
    assert expert_sft.sft_label_fields(load_config("tiny", overrides=["efficient.sft_labels=values"])) \
        == ("pass", "length")
    assert expert_sft.sft_label_fields(load_config("tiny")) is None


# ---- field-level credit (meta.credit=field) ---------------------------------------------------

def test_field_spans_find_each_value():
    text = '<meta>2 ops</meta>{"math_notion": ["carry", "split"], "pass_rate": 6, "solution_length": "40"}'
    spans = credit.field_spans(text)
    assert text[slice(*spans["pass_rate"])] == "6"
    assert text[slice(*spans["solution_length"])] == '"40"'
    assert text[slice(*spans["math_notion"])] == '["carry", "split"]'
    assert credit.field_spans("no json here") == {}


def test_field_token_parts_with_one_character_per_token():
    text = '{"pass_rate": 7, "math_notion": "add"}'
    ends = list(range(1, len(text) + 1))                       # token i = character i
    parts = credit.field_token_parts(text, ends)
    assert [i for i, p in enumerate(parts) if p == 0] == [text.index("7")]          # pass
    notion = text.index('"add"')
    assert [i for i, p in enumerate(parts) if p == 2] == list(range(notion, notion + 5))
    assert credit.field_token_parts(text, ends, enabled=("length",)) == [-1] * len(text)


def test_token_char_ends_match_decoded_prefixes():
    from masa_lite.models import load_model_and_tokenizer

    _, tok = load_model_and_tokenizer("masa-tiny")
    ids = tok.encode('{"pass_rate": 3}', add_special_tokens=False) + [tok.eos_token_id]
    ends = credit.token_char_ends(tok, ids)
    assert ends[-1] == ends[-2] == len('{"pass_rate": 3}')  # EOS adds no characters
    assert ends == sorted(ends)


def test_token_advantages_use_each_parts_group_advantage():
    import torch

    from masa_lite.grpo.scored import Scored, token_advantages
    from masa_lite.grpo.update import _advantage_matrix
    from masa_lite.grpo.rollout import Rollout

    ros = [Rollout(0, "p", "ab", [1, 2], 2, "eos"), Rollout(0, "p", "ab", [1, 2], 2, "eos")]
    sc = Scored(ros, torch.tensor([1.0, 0.0]), torch.tensor([0, 0]),
                part_rewards=torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
                token_parts=[[0, -1], [2, 0]])
    adv = torch.tensor([0.7, -0.7])                                    # the rollouts' r_meta advantage
    per_tok = token_advantages(sc, adv)
    a = 0.5 / (0.5 ** 0.5 + 1e-6)                                      # z-score of [0, 1], sample std
    assert per_tok[0].tolist() == pytest.approx([-a, 0.7])             # pass part: 0 < 1 → negative
    assert per_tok[1].tolist() == pytest.approx([-a, a])               # notion part 0 → −a; pass part 1 → +a
    mask = torch.ones(2, 3)
    mask[0, 2] = 0
    m = _advantage_matrix(adv, per_tok, [0, 1], mask)
    assert m.shape == (2, 3) and m[0, 2] == 0 and m[1].tolist()[:2] == pytest.approx([-a, a])
    assert _advantage_matrix(adv, [None, None], [0, 1], mask).shape == (2,)
    assert token_advantages(Scored(ros, adv, torch.tensor([0, 0])), adv) == [None, None]


def test_expert_sft_unsolved_prompts_teach_pass_rate_zero():
    sols = [_ro(0, "mul 12*3=35", False, 12), _ro(0, "mul 12*3=34", False, 13)]
    stats = meta_scoring.prompt_stats(sols, 1)
    meta = _ro(0, format_meta_answer("mul, 1 steps", ["split"], 6, 40))
    recs = [{"problem": "12*3"}]
    args = ([meta], [parse_meta(meta.text)], recs, stats)
    fmt = lambda r: "meta " + r["problem"] + "\n"  # noqa: E731
    literal = load_config("tiny", overrides=["meta.enabled=true", "efficient.expert_sft=true"])
    assert expert_sft.expert_sft_examples(*args, literal, fmt) == []  # mean correct length undefined
    ours = load_config("tiny", overrides=["meta.enabled=true", "efficient.expert_sft=true",
                                          "efficient.sft_unsolved=true"])
    # the notion score (0 for every notion of an unsolved prompt) does not filter it out
    assert expert_sft.expert_sft_examples(*args, ours, fmt) == [
        ("meta 12*3\n", format_meta_answer("mul, 1 steps", ["split"], 0, 40))]


def test_replay_batches_draw_each_batch_without_replacement_from_the_recent_steps():
    import random
    from collections import Counter

    recent = [[("p1", "t1"), ("p2", "t2")], [], [("p3", "t3")]]   # three steps' targets, 3 in all
    batches = expert_sft.replay_batches(recent, 4, 2, random.Random(0))
    assert len(batches) == 4 and all(len(b) == 2 and len(set(b)) == 2 for b in batches)
    assert {pair for b in batches for pair in b} <= {("p1", "t1"), ("p2", "t2"), ("p3", "t3")}
    # a batch larger than the pool holds the whole pool once, in some order
    assert [sorted(b) for b in expert_sft.replay_batches(recent, 2, 16, random.Random(1))] == \
        [sorted(recent[0] + recent[2])] * 2
    assert expert_sft.replay_batches([[], []], 3, 16, random.Random(0)) == []   # nothing to replay
    assert expert_sft.replay_batches(recent, 0, 2, random.Random(0)) == []
    # the same seed gives the same batches (resume and data parallel rely on it)
    assert expert_sft.replay_batches(recent, 3, 2, random.Random("s")) == \
        expert_sft.replay_batches(recent, 3, 2, random.Random("s"))
    # over many draws every target recurs about equally often (no target is favoured)
    counts = Counter(p for b in expert_sft.replay_batches(recent, 3000, 2, random.Random(2)) for p in b)
    assert max(counts.values()) - min(counts.values()) < 0.1 * 2000


def test_replay_settings_are_checked():
    with pytest.raises(ConfigError, match="efficient.sft_replay must be ≥ 0"):
        load_config("tiny", overrides=["efficient.sft_replay=-1"])
    with pytest.raises(ConfigError, match="efficient.sft_replay_window must be ≥ 1"):
        load_config("tiny", overrides=["efficient.sft_replay_window=0"])


# ---- issue 10 -------------------------------------------------------------------------------

def test_gate_uses_population_std_and_a_configurable_vote_count():
    # two votes 0 and 0.18: population std 0.09 < 0.1 ≤ sample std 0.127 — the gate uses the
    # population std (documented; the advantages use the sample std)
    assert gate.gate_prompts([[0.0, 0.18]], std_max=0.1, margin=0.1) == [True]
    # two parseable votes are enough by default; efficient.gate_min_votes asks for more
    assert gate.gate_prompts([[0.0, 0.0]], min_votes=2) == [True]
    assert gate.gate_prompts([[0.0, 0.0]], min_votes=5) == [False]


def _by_prompt(passes, lengths):
    return [{"pass": p, "length": ln, "notions": [["carry"]]} for p, ln in zip(passes, lengths)]


class _Rng:
    """Stands in for the audit RNG: hands out the given numbers in order."""

    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_plan_rolls_audited_gated_prompts_out_without_a_cutoff_budget():
    """The audit label (zero variance or not) must come from uncut outcomes: a cut rollout scores
    0 and would make an all-correct prompt look mixed."""
    cfg = load_config("tiny", overrides=["meta.enabled=true", "efficient.gating=true",
                                         "efficient.cutoff=true", "meta.feed_in=true",
                                         "efficient.gate_audit=0.5", "efficient.cutoff_floor=30"])
    by = _by_prompt([[1.0] * 4, [0.0] * 4, [0.5, 0.25, 0.75, 0.5], [1.0] * 4],
                    [[40, 40], [40, 60], [5], [10]])
    plan = efficient_plan.plan_solutions(by, cfg, _Rng([0.1, 0.9, 0.2]))  # one draw per gated prompt
    assert plan.gated == [True, True, False, True]
    assert plan.audited == [True, False, False, True]
    assert plan.rolled_out == [0, 2, 3]
    # gated prompts have no budget; prompt 2 gets max(floor 30, ⌈2 × 5⌉) = 30
    assert plan.budgets == [None, None, 30, None]
    assert plan.notions == [["carry"]] * 4
    off = efficient_plan.plan_solutions(by, cfg, _Rng([]), sequential=False)
    assert off.gated == [False] * 4 and off.budgets is None and off.notions is None


def test_gated_prompts_without_audit_get_no_meta_reward():
    """No solution rollouts → no statistics → no r_meta (and no meta training) for that prompt."""
    cfg = load_config("tiny", overrides=["meta.enabled=true"])
    sols = [_ro(0, "12*3=36", True, 20), _ro(0, "12*3=35", False, 12)]
    stats = meta_scoring.prompt_stats(sols, 2)  # prompt 1 was gated and not audited: no rollouts
    ans = format_meta_answer("x", ["split"], 4, 20)
    metas = [_ro(0, ans), _ro(1, ans), _ro(1, ans)]
    rewards, _, per_rollout = meta_scoring.score_meta(metas, [parse_meta(m.text) for m in metas],
                                              [{"problem": "12*3"}, {"problem": "1+1"}], stats, cfg)
    assert rewards[0] is not None and rewards[1:] == [None, None] and per_rollout[1:] == [None, None]


def test_every_ready_sft_batch_is_trained_so_the_buffer_stays_bounded():
    buffer = []
    for step in range(10):  # 32 pairs arrive per step, batches of 16 (the gpu profile)
        buffer += [(step, j) for j in range(32)]
        ready, buffer = expert_sft.ready_sft_batches(buffer, 16)
        assert len(ready) == 2 and all(len(b) == 16 for b in ready) and len(buffer) < 16
    ready, rest = expert_sft.ready_sft_batches(list(range(5)), 16)
    assert ready == [] and rest == list(range(5))
    ready, rest = expert_sft.ready_sft_batches(list(range(35)), 16)
    assert ready == [list(range(16)), list(range(16, 32))] and rest == [32, 33, 34]  # oldest first


def test_sft_optimizer_weight_decay_is_explicit():
    import torch

    p = [torch.nn.Parameter(torch.zeros(2))]
    cfg = load_config("tiny", overrides=["meta.enabled=true", "efficient.expert_sft=true",
                                         "efficient.sft_weight_decay=0", "efficient.sft_lr=0.3"])
    group = expert_sft.sft_optimizer(p, cfg).param_groups[0]
    assert group["weight_decay"] == 0.0 and group["lr"] == 0.3
    assert expert_sft.sft_optimizer(p, load_config("tiny")).param_groups[0]["weight_decay"] == 0.01
