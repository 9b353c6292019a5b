"""Ten made-up users with the shape of the public placeholder users API (id, name, username, email,
address {street, suite, city, zipcode, geo {lat, lng}}, phone, website, company {name, catchPhrase, bs})."""

_PEOPLE = [
    ("Ada Brennan", "adab", "Quarry Lane", "Apt. 12", "Lowmoor", "40117", "Brennan Analytics"),
    ("Tomas Okafor", "tokafor", "Hollis Street", "Suite 301", "Eastwick", "22094", "Okafor & Sons"),
    ("Mei Lindqvist", "meil", "Birch Row", "Apt. 7", "Northfield", "58820", "Lindqvist Labs"),
    ("Rafael Duarte", "rduarte", "Canal Walk", "Suite 44", "Port Ellis", "91003", "Duarte Freight"),
    ("Hannah Vogel", "hvogel", "Mill Road", "Apt. 220", "Greystone", "30561", "Vogel Systems"),
    ("Kwame Asante", "kasante", "Orchard Close", "Suite 9", "Redbank", "77412", "Asante Group"),
    ("Sofia Marino", "smarino", "Harbour View", "Apt. 3", "Saltmarsh", "11870", "Marino Design"),
    ("Ivan Petrov", "ipetrov", "Station Hill", "Suite 610", "Kingsbury", "64209", "Petrov Metrics"),
    ("Leila Haddad", "lhaddad", "Cedar Avenue", "Apt. 58", "Westmere", "83345", "Haddad Health"),
    ("Noah Fischer", "nfischer", "Bridge End", "Suite 15", "Ashdown", "45028", "Fischer Works"),
]

_PHRASES = [
    ("Adaptive next-step pipelines", "ship scalable dashboards"),
    ("Reliable hands-off scheduling", "orchestrate resilient jobs"),
    ("Open reproducible research", "share versioned notebooks"),
    ("Lean cross-border logistics", "route optimised parcels"),
    ("Secure layered infrastructure", "harden distributed services"),
    ("Community-first growth", "grow engaged audiences"),
    ("Human-centred interfaces", "craft accessible products"),
    ("Measured data quality", "monitor trusted metrics"),
    ("Preventive care analytics", "predict patient outcomes"),
    ("Robust modular tooling", "assemble reusable components"),
]


def make_users():
    users = []
    for i, (name, username, street, suite, city, zipcode, company) in enumerate(_PEOPLE, start=1):
        phrase, bs = _PHRASES[i - 1]
        users.append(
            {
                "id": i,
                "name": name,
                "username": username,
                "email": f"{username}@example.org",
                "address": {
                    "street": f"{10 * i + 3} {street}",
                    "suite": suite,
                    "city": city,
                    "zipcode": zipcode,
                    "geo": {"lat": f"{40 + i * 1.37:.4f}", "lng": f"{-70 - i * 2.11:.4f}"},
                },
                "phone": f"+1-555-01{i:02d}",
                "website": f"{username}.example.org",
                "company": {"name": company, "catchPhrase": phrase, "bs": bs},
            }
        )
    return users


USERS = make_users()
