"""Vocabularies of the synthetic CRM: industries, countries, titles, domains, pages, assets.

Everything here is fictional and contains no personal data: company names are built from word
lists, contacts have no names, and only email *domains* exist.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCOUNT_COUNTRIES",
    "ACCOUNT_COUNTRY_WEIGHTS",
    "CHAT_PAGES",
    "COUNTRY_FIT",
    "DEMO_PAGES",
    "DEPARTMENT_FIT",
    "DEPARTMENT_LABELS",
    "DISPOSABLE_DOMAINS",
    "EMAIL_THEMES",
    "FORM_PAGES",
    "INDUSTRIES",
    "JUNK_TITLES",
    "LEAD_SOURCES",
    "LEAD_SOURCE_VARIANTS",
    "NAME_HEADS",
    "NAME_TAILS",
    "OTHER_COUNTRY_FIT",
    "PRICING_PAGES",
    "RESOURCES",
    "SENIORITIES",
    "TITLES",
    "WEBINARS",
    "WEBMAIL_DOMAINS_FR",
    "WEBMAIL_DOMAINS_INTL",
    "WEB_CATEGORY_WEIGHTS",
    "WEB_PAGES",
    "Industry",
    "LeadSource",
    "Seniority",
    "Title",
]


@dataclass(frozen=True)
class Industry:
    """A true industry: its CRM label, frequency, ICP fit and the noisy labels CRMs hold."""

    label: str
    weight: float
    fit: float
    revenue_per_employee: float
    variants: tuple[str, ...] = ()
    target: bool = False
    out_of_target: bool = False


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Software", 0.17, 0.9, 180e3, ("SaaS", "Sofware", "IT & Software", "software"), True),
    Industry("Professional Services", 0.12, 0.5, 120e3, ("Consulting", "Prof. Services"), True),
    Industry("Manufacturing", 0.12, 0.0, 220e3, ("Industrie", "manufacturing")),
    Industry(
        "Financial Services", 0.09, 0.6, 350e3, ("Finance", "Banking", "Financial Svcs"), True
    ),
    Industry("Retail", 0.08, -0.3, 250e3, ("Retail & E-commerce", "Commerce")),
    Industry("Healthcare", 0.08, -0.1, 140e3, ("Health Care", "Santé")),
    Industry("Education", 0.06, -0.7, 70e3, ("Higher Education", "Enseignement"), False, True),
    Industry("Public Sector", 0.05, -0.9, 90e3, ("Government", "Secteur public"), False, True),
    Industry("Logistics", 0.05, -0.1, 200e3, ("Transport & Logistics", "Logistique")),
    Industry("Media", 0.04, 0.1, 160e3, ("Media & Entertainment",)),
    Industry("Telecom", 0.03, 0.2, 400e3, ("Telecommunications", "Télécoms")),
    Industry("Energy", 0.03, -0.1, 600e3, ("Utilities", "Énergie")),
    Industry("Real Estate", 0.03, -0.3, 300e3, ("Immobilier",)),
    Industry("Hospitality", 0.03, -0.5, 60e3, ("Hotels & Restaurants",), False, True),
    Industry("Non-profit", 0.02, -0.8, 50e3, ("NGO", "Association"), False, True),
)

ACCOUNT_COUNTRIES: tuple[str, ...] = (
    "FR", "US", "GB", "DE", "ES", "BE", "CH", "CA", "NL", "IT",
    "BR", "IN", "MA", "SN", "PL", "SE", "AU", "JP",
)  # fmt: skip
ACCOUNT_COUNTRY_WEIGHTS: tuple[float, ...] = (
    0.30, 0.18, 0.10, 0.09, 0.05, 0.05, 0.04, 0.04, 0.04, 0.04,
    0.015, 0.015, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005,
)  # fmt: skip
COUNTRY_FIT: dict[str, float] = {
    "FR": 0.35, "BE": 0.3, "CH": 0.3, "GB": 0.2, "DE": 0.1, "US": 0.1, "NL": 0.1,
    "CA": 0.0, "ES": 0.0, "IT": -0.1,
}  # fmt: skip
"""ICP fit by country; countries not listed get :data:`OTHER_COUNTRY_FIT`."""
OTHER_COUNTRY_FIT = -0.6

NAME_HEADS: tuple[str, ...] = (
    "Acme", "Nova", "Blue", "Peak", "Atlas", "Vertex", "Orion", "Lumen", "Helix", "Cobalt",
    "Quartz", "Nimbus", "Arcadia", "Solis", "Boreal", "Kappa", "Zenith", "Pixel", "Granite",
    "Silverline", "Alto", "Beacon", "Cedar", "Delta", "Ember", "Fjord", "Gamma", "Harbor",
    "Iris", "Juniper", "Krypton", "Lynx", "Meridian", "Nexa", "Opal", "Polar", "Quanta",
    "Riviera", "Sequoia", "Terra", "Umbra", "Vela", "Wave", "Xeno", "Yuzu", "Zephyr",
)  # fmt: skip
NAME_TAILS: tuple[str, ...] = (
    "Corp", "Systems", "Labs", "Group", "Partners", "Industries", "Solutions", "Analytics",
    "Logistics", "Consulting", "Technologies", "Capital", "Health", "Retail", "Energy",
    "Media", "Works", "Digital", "Networks", "Studio",
)  # fmt: skip


@dataclass(frozen=True)
class Seniority:
    """A true seniority level: its CRM picklist label, ICP fit and whether it decides."""

    key: str
    label: str
    fit: float
    decision: bool


SENIORITIES: tuple[Seniority, ...] = (
    Seniority("c_level", "C-Level", 0.5, True),
    Seniority("vp", "VP", 0.6, True),
    Seniority("director", "Director", 0.6, True),
    Seniority("head", "Head", 0.5, True),
    Seniority("manager", "Manager", 0.2, False),
    Seniority("ic", "Individual Contributor", 0.0, False),
    Seniority("consultant", "Consultant", -0.4, False),
    Seniority("intern", "Intern", -1.5, False),
    Seniority("student", "Student", -2.0, False),
)

DEPARTMENT_LABELS: tuple[str, ...] = (
    "Executive", "Sales", "Marketing", "IT", "Finance", "Operations", "HR", "Engineering", "Data",
)  # fmt: skip
DEPARTMENT_FIT: dict[str, float] = {
    "Executive": 0.2, "Sales": 0.3, "Marketing": 0.35, "IT": 0.0, "Finance": -0.2,
    "Operations": -0.1, "HR": -0.4, "Engineering": -0.2, "Data": 0.1,
}  # fmt: skip


@dataclass(frozen=True)
class Title:
    """A job title as typed in a CRM (English or French), with its true seniority/department."""

    text: str
    seniority: str
    department: str
    weight: float = 1.0


TITLES: tuple[Title, ...] = (
    Title("CEO", "c_level", "Executive", 2.0),
    Title("CFO", "c_level", "Finance"),
    Title("CMO", "c_level", "Marketing"),
    Title("CTO", "c_level", "IT"),
    Title("Chief Revenue Officer", "c_level", "Sales", 0.5),
    Title("Founder", "c_level", "Executive"),
    Title("Co-founder", "c_level", "Executive"),
    Title("PDG", "c_level", "Executive", 1.5),
    Title("Directeur Général", "c_level", "Executive", 1.5),
    Title("Gérant", "c_level", "Executive"),
    Title("VP Sales", "vp", "Sales", 1.5),
    Title("VP Marketing", "vp", "Marketing", 1.5),
    Title("Vice President of Sales", "vp", "Sales", 0.5),
    Title("VP Engineering", "vp", "Engineering"),
    Title("VP Finance", "vp", "Finance", 0.5),
    Title("Vice-Président Commercial", "vp", "Sales", 0.5),
    Title("Sales Director", "director", "Sales", 1.5),
    Title("Marketing Director", "director", "Marketing", 1.5),
    Title("Directeur Commercial", "director", "Sales", 2.0),
    Title("Directrice Marketing", "director", "Marketing", 1.5),
    Title("Directeur des Systèmes d'Information", "director", "IT"),
    Title("IT Director", "director", "IT"),
    Title("Directeur Administratif et Financier", "director", "Finance"),
    Title("Directeur des Opérations", "director", "Operations"),
    Title("Head of Marketing", "head", "Marketing", 1.5),
    Title("Head of Sales", "head", "Sales", 1.5),
    Title("Head of Growth", "head", "Marketing"),
    Title("Head of Data", "head", "Data"),
    Title("Responsable Marketing", "head", "Marketing", 2.0),
    Title("Responsable Commercial", "head", "Sales", 1.5),
    Title("Responsable des Ventes", "head", "Sales"),
    Title("Responsable Informatique", "head", "IT"),
    Title("Marketing Manager", "manager", "Marketing", 3.0),
    Title("Sales Manager", "manager", "Sales", 2.0),
    Title("Account Manager", "manager", "Sales", 2.0),
    Title("Product Manager", "manager", "Engineering", 1.5),
    Title("IT Manager", "manager", "IT"),
    Title("Demand Generation Manager", "manager", "Marketing"),
    Title("Chef de projet", "manager", "Operations", 2.0),
    Title("Chef de produit", "manager", "Marketing"),
    Title("Office Manager", "manager", "Operations"),
    Title("HR Manager", "manager", "HR"),
    Title("Responsable RH", "manager", "HR"),
    Title("Marketing Specialist", "ic", "Marketing", 1.5),
    Title("Chargé de marketing", "ic", "Marketing", 2.0),
    Title("Chargée de communication", "ic", "Marketing", 1.5),
    Title("Business Developer", "ic", "Sales", 2.0),
    Title("Sales Representative", "ic", "Sales"),
    Title("Commercial", "ic", "Sales", 1.5),
    Title("SDR", "ic", "Sales"),
    Title("Data Analyst", "ic", "Data", 1.5),
    Title("Analyst", "ic", "Finance", 1.5),
    Title("Software Engineer", "ic", "Engineering", 2.0),
    Title("Ingénieur", "ic", "Engineering", 1.5),
    Title("Développeur", "ic", "Engineering", 1.5),
    Title("Comptable", "ic", "Finance"),
    Title("Assistant commercial", "ic", "Sales"),
    Title("Consultant", "consultant", "Operations", 3.0),
    Title("Consultante", "consultant", "Operations", 1.5),
    Title("Freelance", "consultant", "Operations", 1.5),
    Title("Advisor", "consultant", "Executive", 0.5),
    Title("Intern", "intern", "Marketing", 1.5),
    Title("Stagiaire", "intern", "Marketing", 2.0),
    Title("Marketing Intern", "intern", "Marketing"),
    Title("Alternant", "intern", "Sales", 1.5),
    Title("Student", "student", "Data", 2.0),
    Title("Étudiant", "student", "Data", 1.5),
    Title("Étudiante", "student", "Data", 1.0),
    Title("PhD Student", "student", "Data", 0.5),
)
JUNK_TITLES: tuple[str, ...] = ("-", "n/a", "N/A", ".", "test", "TBD")
"""Placeholders people type when a form requires a title."""


@dataclass(frozen=True)
class LeadSource:
    """How a contact arrived: CRM label, frequency, first-interest strength and first event."""

    label: str
    weight: float
    initial_intent: float
    first_event: str | None


LEAD_SOURCES: tuple[LeadSource, ...] = (
    LeadSource("organic_search", 0.22, 1.2, "form_fill"),
    LeadSource("paid_search", 0.15, 1.0, "form_fill"),
    LeadSource("webinar", 0.12, 1.1, "webinar_registration"),
    LeadSource("content_syndication", 0.12, 0.5, "content_download"),
    LeadSource("referral", 0.06, 1.6, "form_fill"),
    LeadSource("event", 0.08, 0.9, None),
    LeadSource("outbound", 0.12, 0.4, None),
    LeadSource("partner", 0.05, 1.2, "form_fill"),
    LeadSource("social", 0.06, 0.7, "content_download"),
)
LEAD_SOURCE_VARIANTS: dict[str, tuple[str, ...]] = {
    "organic_search": ("Organic Search", "organic", "SEO"),
    "paid_search": ("Paid Search", "paid-search", "Google Ads"),
    "webinar": ("Webinar", "webinar "),
    "content_syndication": ("Content Syndication",),
    "referral": ("Referral", "Recommandation"),
    "event": ("Event", "Salon", "trade_show"),
    "outbound": ("Outbound", "cold_email"),
    "partner": ("Partner",),
    "social": ("LinkedIn", "Social"),
}
"""How the same source is typed in real CRMs (a few percent of rows)."""

WEBMAIL_DOMAINS_INTL: tuple[str, ...] = (
    "gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com",
)  # fmt: skip
WEBMAIL_DOMAINS_FR: tuple[str, ...] = (
    "gmail.com", "orange.fr", "yahoo.fr", "hotmail.fr", "free.fr", "outlook.fr", "sfr.fr",
)  # fmt: skip
DISPOSABLE_DOMAINS: tuple[str, ...] = ("mailinator.com", "yopmail.com", "guerrillamail.com")

WEB_PAGES: dict[str, tuple[str, ...]] = {
    "home": ("/", "/fr", "/en"),
    "blog": (
        "/blog/what-is-lead-scoring", "/blog/mql-vs-sql", "/blog/b2b-funnel-benchmarks",
        "/blog/intent-data-explained", "/fr/blog/scoring-des-leads", "/fr/blog/marketing-b2b",
        "/blog/sales-and-marketing-alignment", "/blog/crm-data-quality",
    ),
    "product": (
        "/product/platform", "/product/integrations", "/product/predictive-scoring",
        "/product/security", "/fr/produit", "/product/api",
    ),
    "customers": ("/customers", "/customers/case-studies", "/fr/clients"),
    "resources": ("/resources", "/fr/ressources"),
    "docs": ("/docs/getting-started", "/docs/api-reference", "/docs/crm-connectors"),
    "careers": ("/careers", "/fr/recrutement"),
    "about": ("/about", "/fr/a-propos", "/contact-us"),
}  # fmt: skip
WEB_CATEGORY_WEIGHTS: dict[str, float] = {
    "home": 0.16, "blog": 0.36, "product": 0.16, "customers": 0.06, "resources": 0.07,
    "docs": 0.05, "careers": 0.08, "about": 0.06,
}  # fmt: skip
PRICING_PAGES: tuple[str, ...] = ("/pricing", "/pricing/enterprise", "/fr/tarifs")
DEMO_PAGES: tuple[str, ...] = ("/demo", "/fr/demo", "/contact-sales")
FORM_PAGES: tuple[str, ...] = ("/contact", "/newsletter", "/trial", "/fr/contact")
CHAT_PAGES: tuple[str, ...] = ("/pricing", "/", "/product/platform")

RESOURCES: tuple[str, ...] = (
    "Guide: Lead scoring 101",
    "Whitepaper: Predictive scoring for B2B",
    "Ebook: The MQL to SQL handbook",
    "Checklist: CRM data hygiene",
    "Benchmark report: B2B conversion rates 2024",
    "Livre blanc : Le scoring prédictif",
    "Guide : Aligner marketing et ventes",
    "Template: Sales and marketing SLA",
    "Case study: How a SaaS team doubled SQLs",
    "Infographie : Le funnel B2B",
)
WEBINARS: tuple[str, ...] = (
    "Webinar: Scoring leads with machine learning",
    "Webinar: From MQL to meeting in 30 days",
    "Webinaire : Réussir son lead nurturing",
    "Webinar: Building an ICP from your CRM",
    "Webinaire : Le smarketing en pratique",
    "Webinar: Product tour and live Q&A",
)
EMAIL_THEMES: tuple[str, ...] = ("newsletter", "nurture", "product-update", "event-invite")
