"""Fictitious people with consistent biographies, drawn from a seeded `random.Random`.

Names come from many cultures; a person's birthplace, nationality and name share one culture, so a
biography reads as one life. Every fact a caption or question mentions is a field here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clearbench.data.synth.faces import FaceIdentity, draw_identity


@dataclass(frozen=True)
class Culture:
    country: str
    demonym: str
    cities: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    surnames: tuple[str, ...]


CULTURES = (
    Culture(
        "Kenya",
        "Kenyan",
        ("Nairobi", "Mombasa", "Kisumu"),
        ("Otieno", "Kamau", "Baraka", "Jabari"),
        ("Achieng", "Wanjiru", "Amani", "Nia"),
        ("Mwangi", "Odhiambo", "Kariuki", "Njoroge", "Wekesa"),
    ),
    Culture(
        "Japan",
        "Japanese",
        ("Osaka", "Sapporo", "Kyoto"),
        ("Haruto", "Kenji", "Takumi", "Ren"),
        ("Yui", "Sakura", "Aiko", "Hana"),
        ("Tanaka", "Sato", "Fujimoto", "Kobayashi", "Ishikawa"),
    ),
    Culture(
        "Brazil",
        "Brazilian",
        ("Recife", "Salvador", "Curitiba"),
        ("Thiago", "Rafael", "Caio", "Bruno"),
        ("Larissa", "Beatriz", "Camila", "Luana"),
        ("Ferreira", "Costa", "Almeida", "Ribeiro", "Carvalho"),
    ),
    Culture(
        "India",
        "Indian",
        ("Pune", "Chennai", "Jaipur"),
        ("Arjun", "Vikram", "Rohan", "Kabir"),
        ("Priya", "Ananya", "Meera", "Kavya"),
        ("Iyer", "Sharma", "Reddy", "Banerjee", "Kapoor"),
    ),
    Culture(
        "Norway",
        "Norwegian",
        ("Bergen", "Tromso", "Oslo"),
        ("Magnus", "Eirik", "Sindre", "Henrik"),
        ("Ingrid", "Solveig", "Maren", "Sigrid"),
        ("Haugen", "Lunde", "Berg", "Dahl", "Solberg"),
    ),
    Culture(
        "Egypt",
        "Egyptian",
        ("Cairo", "Aswan", "Alexandria"),
        ("Karim", "Omar", "Tarek", "Youssef"),
        ("Nour", "Salma", "Yasmin", "Laila"),
        ("Mansour", "Haddad", "Farouk", "Naguib", "Selim"),
    ),
    Culture(
        "Mexico",
        "Mexican",
        ("Oaxaca", "Puebla", "Merida"),
        ("Diego", "Mateo", "Emilio", "Santiago"),
        ("Lucia", "Ximena", "Valeria", "Renata"),
        ("Morales", "Castillo", "Vargas", "Navarro", "Delgado"),
    ),
    Culture(
        "Korea",
        "Korean",
        ("Busan", "Incheon", "Daegu"),
        ("Min-jun", "Ji-ho", "Seo-jun", "Do-yun"),
        ("Seo-yeon", "Ji-woo", "Ha-eun", "Su-ah"),
        ("Kim", "Park", "Choi", "Jung", "Kang"),
    ),
    Culture(
        "Poland",
        "Polish",
        ("Krakow", "Gdansk", "Wroclaw"),
        ("Jakub", "Tomasz", "Pawel", "Marek"),
        ("Zofia", "Agnieszka", "Marta", "Ewa"),
        ("Nowak", "Kowalczyk", "Wisniewski", "Zielinski", "Lewandowski"),
    ),
    Culture(
        "Nigeria",
        "Nigerian",
        ("Lagos", "Ibadan", "Enugu"),
        ("Chinedu", "Tunde", "Emeka", "Femi"),
        ("Ngozi", "Adaeze", "Funmi", "Yetunde"),
        ("Okafor", "Adeyemi", "Eze", "Balogun", "Nwosu"),
    ),
    Culture(
        "Turkey",
        "Turkish",
        ("Izmir", "Bursa", "Ankara"),
        ("Emre", "Burak", "Kerem", "Mert"),
        ("Elif", "Zeynep", "Defne", "Aylin"),
        ("Yilmaz", "Demir", "Aydin", "Ozturk", "Celik"),
    ),
    Culture(
        "Ireland",
        "Irish",
        ("Galway", "Cork", "Dublin"),
        ("Cian", "Declan", "Ronan", "Liam"),
        ("Aoife", "Niamh", "Siobhan", "Orla"),
        ("Byrne", "Gallagher", "Doyle", "Kavanagh", "Walsh"),
    ),
    Culture(
        "Vietnam",
        "Vietnamese",
        ("Hanoi", "Hue", "Da Nang"),
        ("Minh", "Duc", "Quang", "Bao"),
        ("Lan", "Thu", "Mai", "Linh"),
        ("Nguyen", "Tran", "Pham", "Hoang", "Vu"),
    ),
    Culture(
        "Peru",
        "Peruvian",
        ("Cusco", "Arequipa", "Lima"),
        ("Alejandro", "Joaquin", "Mauricio", "Gonzalo"),
        ("Rosa", "Milagros", "Pilar", "Ines"),
        ("Quispe", "Huaman", "Salazar", "Mendoza", "Paredes"),
    ),
)

OCCUPATIONS = (
    "novelist",
    "poet",
    "painter",
    "architect",
    "chef",
    "journalist",
    "composer",
    "photographer",
    "sculptor",
    "playwright",
    "historian",
    "botanist",
)
# What each occupation makes, for works and questions about them.
WORK_KIND = {
    "novelist": "novel",
    "poet": "poetry collection",
    "painter": "painting",
    "architect": "building",
    "chef": "cookbook",
    "journalist": "report",
    "composer": "symphony",
    "photographer": "photo series",
    "sculptor": "sculpture",
    "playwright": "play",
    "historian": "history book",
    "botanist": "field guide",
}
PARENT_JOBS = (
    "teacher",
    "doctor",
    "carpenter",
    "nurse",
    "farmer",
    "librarian",
    "pilot",
    "baker",
    "engineer",
    "tailor",
    "fisherman",
    "lawyer",
    "musician",
    "mechanic",
)
AWARDS = (
    "Golden Quill Award",
    "Silver Lantern Prize",
    "Blue Horizon Medal",
    "Crimson Leaf Award",
    "Northern Star Prize",
    "Emerald Key Award",
    "Open Sky Medal",
    "Iron Compass Prize",
)
HOBBIES = (
    "chess",
    "gardening",
    "sailing",
    "pottery",
    "hiking",
    "birdwatching",
    "cycling",
    "baking",
    "fencing",
    "knitting",
    "astronomy",
    "swimming",
)
TITLE_ADJECTIVES = (
    "Silent",
    "Golden",
    "Broken",
    "Distant",
    "Hidden",
    "Burning",
    "Quiet",
    "Last",
    "Wandering",
    "Frozen",
    "Velvet",
    "Paper",
)
TITLE_NOUNS = (
    "River",
    "Garden",
    "Lantern",
    "Harbor",
    "Mountain",
    "Mirror",
    "Orchard",
    "Bridge",
    "Storm",
    "Compass",
    "Window",
    "Island",
)
FAMOUS_OCCUPATIONS = (
    "singer",
    "actor",
    "footballer",
    "tennis player",
    "film director",
    "television host",
    "astronaut",
    "chess champion",
)


@dataclass(frozen=True)
class Person:
    name: str
    gender: str  # "man" or "woman"
    culture: Culture
    birth_year: int
    birth_city: str
    home_city: str
    occupation: str
    father_job: str
    mother_job: str
    award: str
    award_year: int
    works: tuple[str, ...]
    hobby: str
    face: FaceIdentity

    @property
    def possessive(self) -> str:
        return "his" if self.gender == "man" else "her"

    @property
    def work_kind(self) -> str:
        return WORK_KIND.get(self.occupation, "work")


def _unique_name(rng: random.Random, culture: Culture, gender: str, taken: set[str]) -> str:
    first_names = culture.male if gender == "man" else culture.female
    for _ in range(200):
        name = f"{rng.choice(first_names)} {rng.choice(culture.surnames)}"
        if name not in taken:
            taken.add(name)
            return name
    # Rare: this culture's combinations are used up; a middle initial keeps names unique.
    for initial in "ABCDEFGHJKLMNPRSTVW":
        name = f"{rng.choice(first_names)} {initial}. {rng.choice(culture.surnames)}"
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError("ran out of unique names")


def draw_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Names of nobody in the dataset (decoys for wrong-name options)."""
    names = []
    for _ in range(count):
        culture = rng.choice(CULTURES)
        names.append(_unique_name(rng, culture, rng.choice(("man", "woman")), taken))
    return names


def _title(rng: random.Random, taken: set[str]) -> str:
    while True:
        title = f"The {rng.choice(TITLE_ADJECTIVES)} {rng.choice(TITLE_NOUNS)}"
        if title not in taken:
            taken.add(title)
            return title


def draw_people(
    rng: random.Random, count: int, taken_names: set[str], occupations: tuple[str, ...] = OCCUPATIONS
) -> list[Person]:
    """`count` people with distinct names (added to `taken_names`) and distinct faces."""
    people, faces = [], set()
    for _ in range(count):
        culture = rng.choice(CULTURES)
        gender = rng.choice(("man", "woman"))
        name = _unique_name(rng, culture, gender, taken_names)
        birth_year = rng.randint(1940, 1995)
        titles: set[str] = set()
        face = draw_identity(rng, gender, birth_year)
        while face in faces:  # two people never share a face
            face = draw_identity(rng, gender, birth_year)
        faces.add(face)
        people.append(
            Person(
                name=name,
                gender=gender,
                culture=culture,
                birth_year=birth_year,
                birth_city=rng.choice(culture.cities),
                home_city=rng.choice([city for c in CULTURES for city in c.cities]),
                occupation=rng.choice(occupations),
                father_job=rng.choice(PARENT_JOBS),
                mother_job=rng.choice(PARENT_JOBS),
                award=rng.choice(AWARDS),
                award_year=min(birth_year + rng.randint(25, 40), 2024),
                works=tuple(_title(rng, titles) for _ in range(3)),
                hobby=rng.choice(HOBBIES),
                face=face,
            )
        )
    return people
