"""Accounts and contacts of one random block, with their latent ICP fit.

The latent fit uses the *true* profile (true industry, size, seniority); the CRM columns hold a
noisy view of it (missing values, typos, "Other"), as real CRMs do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from leadscore.synthetic import vocab
from leadscore.synthetic.params import SECONDS_PER_DAY, FloatArray, IntArray

__all__ = [
    "EMAIL_CORPORATE",
    "EMAIL_DISPOSABLE",
    "EMAIL_MISSING",
    "EMAIL_WEBMAIL",
    "BlockProfiles",
    "block_rngs",
    "count_block_accounts",
    "make_profiles",
]

EMAIL_CORPORATE, EMAIL_WEBMAIL, EMAIL_DISPOSABLE, EMAIL_MISSING = 0, 1, 2, 3

_FIT_CENTER = 0.25
_FIT_SCALE = 1.2
_FIT_NOISE_SD = 0.6
_ACCOUNT_HISTORY_YEARS = 6
_FRENCH_COUNTRIES = ("FR", "BE", "CH")
_FRENCH_MARKERS = re.compile(r"[éèêàç]|^(PDG|Gérant|Directeur|Directrice|Responsable|Chef|Chargé|"
                             r"Chargée|Commercial|Stagiaire|Alternant|Comptable|Assistant|"
                             r"Consultante|Vice-Président)")  # fmt: skip
_SENIORITY_WEIGHTS = {
    "c_level": 0.07, "vp": 0.05, "director": 0.10, "head": 0.10, "manager": 0.22, "ic": 0.26,
    "consultant": 0.08, "intern": 0.06, "student": 0.06,
}  # fmt: skip
_LEGAL_SUFFIX = {"FR": "SAS", "DE": "GmbH", "GB": "Ltd", "US": "Inc", "ES": "SL", "IT": "SpA"}
_TLD = {"FR": ".fr", "DE": ".de", "GB": ".co.uk", "ES": ".es", "BE": ".be", "CH": ".ch",
        "NL": ".nl", "IT": ".it", "CA": ".ca"}  # fmt: skip


def block_rngs(seed: int, block: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The two random streams of a block: (plan: accounts, simulation: everything else)."""
    plan, sim = np.random.SeedSequence(seed, spawn_key=(block,)).spawn(2)
    return np.random.default_rng(plan), np.random.default_rng(sim)


def _employees_and_sizes(rng: np.random.Generator, n_contacts: int) -> tuple[IntArray, IntArray]:
    """Employee counts (heavy tailed) and buying-committee sizes, truncated to ``n_contacts``."""
    employees = np.clip(np.rint(rng.lognormal(4.0, 1.9, n_contacts)), 1, 400_000).astype(np.int64)
    scale = 0.7 + 0.25 * np.log10(employees)
    sizes = 1 + np.floor(rng.pareto(1.7, n_contacts) * scale).astype(np.int64)
    sizes = np.minimum(np.minimum(sizes, 40), employees)
    total = np.cumsum(sizes)
    n_accounts = int(np.searchsorted(total, n_contacts) + 1)
    sizes = sizes[:n_accounts].copy()
    sizes[-1] -= int(total[n_accounts - 1]) - n_contacts
    return employees[:n_accounts], sizes


def count_block_accounts(seed: int, block: int, n_contacts: int) -> int:
    """How many accounts a block of ``n_contacts`` contacts has (cheap planning pass)."""
    plan, _ = block_rngs(seed, block)
    return len(_employees_and_sizes(plan, n_contacts)[1])


@dataclass(frozen=True)
class BlockProfiles:
    """Accounts and contacts of one block: CRM columns (arrow) plus the latent/helper arrays."""

    accounts: pa.Table
    contacts: pa.Table
    contact_num: IntArray
    fit: FloatArray
    created_sec: IntArray
    initial_intent: FloatArray
    first_event: list[str | None]
    profile_points: IntArray
    email_kind: IntArray
    junior: np.ndarray
    """True seniority intern or student (what a rep sees on a call, not the CRM field)."""
    out_of_target: np.ndarray
    """The account's true industry is out of target."""


def _pick(rng: np.random.Generator, weights: list[float] | tuple[float, ...], n: int) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def _strings(values: list[str], codes: IntArray, missing: np.ndarray | None = None) -> pa.Array:
    """Arrow strings ``values[codes]``, null where ``missing`` (or ``codes < 0``)."""
    mask = codes < 0 if missing is None else (missing | (codes < 0))
    indices = pa.array(np.where(mask, 0, codes), mask=mask)
    return pa.array(values, type=pa.string()).take(indices)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _timestamps(start: datetime, seconds: IntArray) -> pa.Array:
    base = int((start - datetime(1970, 1, 1)).total_seconds())
    return pa.array((seconds + base) * 1_000_000, type=pa.timestamp("us"))


def make_profiles(
    seed: int,
    block: int,
    n_contacts: int,
    first_account_num: int,
    first_contact_num: int,
    start: datetime,
    end: datetime,
    sim: np.random.Generator,
) -> BlockProfiles:
    """Accounts and contacts of block ``block`` (ids numbered from the given offsets)."""
    plan, _ = block_rngs(seed, block)
    employees, sizes = _employees_and_sizes(plan, n_contacts)
    n_acc = len(sizes)
    end_sec = int((end - start).total_seconds())
    acc_num = first_account_num + np.arange(n_acc, dtype=np.int64)

    # --- accounts -------------------------------------------------------------------------------
    industry = _pick(plan, [i.weight for i in vocab.INDUSTRIES], n_acc)
    country = _pick(plan, vocab.ACCOUNT_COUNTRY_WEIGHTS, n_acc)
    history = _ACCOUNT_HISTORY_YEARS * 365 * SECONDS_PER_DAY
    before = plan.random(n_acc) < 0.55
    acc_created = np.where(
        before,
        -plan.integers(1, history, n_acc),
        plan.integers(0, max(end_sec - SECONDS_PER_DAY, 1), n_acc),
    ).astype(np.int64)
    rev_per_emp = np.array([i.revenue_per_employee for i in vocab.INDUSTRIES])[industry]
    revenue = np.round(employees * rev_per_emp * plan.lognormal(0.0, 0.5, n_acc), -3)
    heads = plan.integers(0, len(vocab.NAME_HEADS), n_acc)
    tails = plan.integers(0, len(vocab.NAME_TAILS), n_acc)
    legal = plan.random(n_acc) < 0.4
    com = plan.random(n_acc) < 0.45
    country_codes = [vocab.ACCOUNT_COUNTRIES[c] for c in country]
    names: list[str] = []
    domains: list[str] = []
    for i in range(n_acc):
        base = f"{vocab.NAME_HEADS[heads[i]]} {vocab.NAME_TAILS[tails[i]]}"
        suffix = _LEGAL_SUFFIX.get(country_codes[i])
        names.append(f"{base} {suffix}" if legal[i] and suffix else base)
        tld = ".com" if com[i] else _TLD.get(country_codes[i], ".com")
        domains.append(_slug(base) + tld)

    # noisy CRM view of the industry: missing, "Other", variants and typos
    labels = [i.label for i in vocab.INDUSTRIES]
    variant_labels: list[str] = []
    variant_first = []
    for ind in vocab.INDUSTRIES:
        variant_first.append(len(labels) + len(variant_labels))
        variant_labels.extend(ind.variants)
    all_labels = [*labels, *variant_labels, "Other"]
    u = plan.random(n_acc)
    n_variants = np.array([len(i.variants) for i in vocab.INDUSTRIES])[industry]
    variant_code = np.array(variant_first)[industry] + plan.integers(0, 1 << 30, n_acc) % n_variants
    observed_industry = np.where(
        u < 0.06,
        -1,
        np.where(u < 0.09, len(all_labels) - 1, np.where(u < 0.14, variant_code, industry)),
    ).astype(np.int64)
    emp_missing = plan.random(n_acc) < 0.10
    rev_missing = plan.random(n_acc) < 0.25
    acc_country_missing = plan.random(n_acc) < 0.04
    accounts = pa.table(
        {
            "account_num": acc_num,
            "name": pa.array(names, type=pa.string()),
            "industry": _strings(all_labels, observed_industry),
            "employee_count": pa.array(employees, mask=emp_missing),
            "annual_revenue": pa.array(revenue, mask=rev_missing),
            "country": _strings(list(vocab.ACCOUNT_COUNTRIES), country, acc_country_missing),
            "created_at": _timestamps(start, acc_created),
        }
    )

    # --- contacts -------------------------------------------------------------------------------
    rng = sim
    n = n_contacts
    acc_idx = np.repeat(np.arange(n_acc), sizes)
    lo = np.maximum(acc_created[acc_idx], 0)
    created = (lo + rng.random(n) * (end_sec - lo - 60)).astype(np.int64)
    c_country = country[acc_idx]
    french = np.isin(np.array(vocab.ACCOUNT_COUNTRIES)[c_country], _FRENCH_COUNTRIES)

    seniority_keys = [s.key for s in vocab.SENIORITIES]
    seniority = _pick(rng, [_SENIORITY_WEIGHTS[k] for k in seniority_keys], n)
    title = np.empty(n, dtype=np.int64)
    title_text = [t.text for t in vocab.TITLES]
    title_is_fr = np.array([bool(_FRENCH_MARKERS.search(t)) for t in title_text])
    for s, key in enumerate(seniority_keys):
        ids = np.array([i for i, t in enumerate(vocab.TITLES) if t.seniority == key])
        w = np.array([vocab.TITLES[i].weight for i in ids])
        for fr in (False, True):
            rows = np.flatnonzero((seniority == s) & (french == fr))
            if rows.size:
                ww = w * np.where(title_is_fr[ids] == fr, 1.0, 0.25 if fr else 0.08)
                title[rows] = ids[_pick(rng, list(ww), rows.size)]
    title_dept = np.array([vocab.DEPARTMENT_LABELS.index(t.department) for t in vocab.TITLES])
    department = title_dept[title]

    u = rng.random(n)
    junk_code = rng.integers(0, len(vocab.JUNK_TITLES), n)
    case_swap = rng.random(n) < 0.5
    shown_titles = [*title_text, *[t.lower() for t in title_text], *[t.upper() for t in title_text]]
    shown_titles += list(vocab.JUNK_TITLES)
    n_t = len(title_text)
    title_code = np.where(
        u < 0.07,
        -1,
        np.where(
            u < 0.085,
            3 * n_t + junk_code,
            np.where(u < 0.115, title + np.where(case_swap, n_t, 2 * n_t), title),
        ),
    ).astype(np.int64)
    title_known = u >= 0.085

    low_role = np.isin(
        seniority, [seniority_keys.index(k) for k in ("consultant", "intern", "student")]
    )
    u = rng.random(n)
    kind = np.where(
        low_role,
        np.where(u < 0.35, 0, np.where(u < 0.85, 1, np.where(u < 0.89, 2, 3))),
        np.where(u < 0.72, 0, np.where(u < 0.88, 1, np.where(u < 0.895, 2, 3))),
    ).astype(np.int64)
    domain_values = [
        *domains,
        *vocab.WEBMAIL_DOMAINS_INTL,
        *vocab.WEBMAIL_DOMAINS_FR,
        *vocab.DISPOSABLE_DOMAINS,
    ]
    off_intl = n_acc
    off_fr = off_intl + len(vocab.WEBMAIL_DOMAINS_INTL)
    off_disp = off_fr + len(vocab.WEBMAIL_DOMAINS_FR)
    webmail = np.where(
        french,
        off_fr + rng.integers(0, len(vocab.WEBMAIL_DOMAINS_FR), n),
        off_intl + rng.integers(0, len(vocab.WEBMAIL_DOMAINS_INTL), n),
    )
    disposable = off_disp + rng.integers(0, len(vocab.DISPOSABLE_DOMAINS), n)
    domain_code = np.select(
        [kind == EMAIL_CORPORATE, kind == EMAIL_WEBMAIL, kind == EMAIL_DISPOSABLE],
        [acc_idx, webmail, disposable],
        -1,
    ).astype(np.int64)

    u = rng.random(n)
    other_country = rng.integers(0, len(vocab.ACCOUNT_COUNTRIES), n)
    contact_country = np.where(u < 0.10, -1, np.where(u < 0.14, other_country, c_country))

    source = _pick(rng, [s.weight for s in vocab.LEAD_SOURCES], n)
    source_labels = [s.label for s in vocab.LEAD_SOURCES]
    variant_first = []
    variants: list[str] = []
    for lead_source in vocab.LEAD_SOURCES:
        variant_first.append(len(source_labels) + len(variants))
        variants.extend(vocab.LEAD_SOURCE_VARIANTS[lead_source.label])
    all_sources = [*source_labels, *variants, "unknown"]
    n_var = np.array([len(vocab.LEAD_SOURCE_VARIANTS[s.label]) for s in vocab.LEAD_SOURCES])
    variant_code = np.array(variant_first)[source] + rng.integers(0, 1 << 30, n) % n_var[source]
    u = rng.random(n)
    source_code = np.where(
        u < 0.015,
        -1,
        np.where(u < 0.025, len(all_sources) - 1, np.where(u < 0.07, variant_code, source)),
    ).astype(np.int64)

    dept_known = rng.random(n) < 0.40
    seniority_known = rng.random(n) < 0.30
    contact_num = first_contact_num + np.arange(n, dtype=np.int64)
    contacts = pa.table(
        {
            "contact_num": contact_num,
            "account_num": acc_num[acc_idx],
            "created_at": _timestamps(start, created),
            "job_title": _strings(shown_titles, title_code),
            "department": _strings(list(vocab.DEPARTMENT_LABELS), department, ~dept_known),
            "seniority": _strings(
                [s.label for s in vocab.SENIORITIES], seniority, ~seniority_known
            ),
            "email_domain": _strings(domain_values, domain_code),
            "country": _strings(list(vocab.ACCOUNT_COUNTRIES), contact_country),
            "lead_source": _strings(all_sources, source_code),
        }
    )

    # --- latent fit -----------------------------------------------------------------------------
    emp = employees[acc_idx]
    size_fit = np.select(
        [emp < 10, emp < 50, emp <= 5000, emp <= 50_000], [-0.7, -0.2, 0.5, 0.1], -0.2
    )
    country_fit = np.array(
        [vocab.COUNTRY_FIT.get(c, vocab.OTHER_COUNTRY_FIT) for c in vocab.ACCOUNT_COUNTRIES]
    )[c_country]
    raw = (
        np.array([i.fit for i in vocab.INDUSTRIES])[industry[acc_idx]]
        + size_fit
        + country_fit
        + np.array([s.fit for s in vocab.SENIORITIES])[seniority]
        + 0.5 * np.array([vocab.DEPARTMENT_FIT[d] for d in vocab.DEPARTMENT_LABELS])[department]
        + np.select([kind == EMAIL_WEBMAIL, kind == EMAIL_DISPOSABLE], [-0.3, -1.0], 0.0)
        + rng.normal(0.0, _FIT_NOISE_SD, n)
    )
    fit = (raw - _FIT_CENTER) / _FIT_SCALE

    # --- what the marketing-automation rules see (observed fields only) -------------------------
    decision = np.array([s.decision for s in vocab.SENIORITIES])[seniority] & title_known
    junior = np.isin(seniority, [seniority_keys.index(k) for k in ("intern", "student")])
    obs_ind = observed_industry[acc_idx]
    target_codes = [i for i, ind in enumerate(vocab.INDUSTRIES) if ind.target]
    out_codes = [i for i, ind in enumerate(vocab.INDUSTRIES) if ind.out_of_target]
    obs_emp_ok = ~emp_missing[acc_idx] & (emp >= 50) & (emp <= 5000)
    points = (
        15 * decision
        + 10 * np.isin(obs_ind, target_codes)
        + 5 * obs_emp_ok
        - 30 * (np.isin(obs_ind, out_codes) | (junior & title_known))
        - 10 * ((kind == EMAIL_WEBMAIL) | (kind == EMAIL_DISPOSABLE))
    ).astype(np.int64)

    initial = np.array([s.initial_intent for s in vocab.LEAD_SOURCES])[source]
    first_event = [vocab.LEAD_SOURCES[i].first_event for i in source]
    return BlockProfiles(
        accounts=accounts,
        contacts=contacts,
        contact_num=contact_num,
        fit=fit.astype(np.float64),
        created_sec=created,
        initial_intent=initial.astype(np.float64),
        first_event=first_event,
        profile_points=points,
        email_kind=kind,
        junior=junior,
        out_of_target=np.array([i.out_of_target for i in vocab.INDUSTRIES])[industry[acc_idx]],
    )
