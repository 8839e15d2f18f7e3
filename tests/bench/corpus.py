"""Customer turns for the LLM cost bench: pt-BR and English, every intent, multi-turn.

Each conversation is a list of turns; a turn is text, or ("audio",) for an audio-only message.
The example business (app/example, Bella Pele Cosméticos) answers them.
"""

from __future__ import annotations

CONVERSATIONS: dict[int, list[str | tuple[str]]] = {
    101: [  # pt-BR sales
        "Oi! Quanto custa o protetor solar facial?",
        "Tem hidratante para pele oleosa?",
        "E o sérum de vitamina C, tem em estoque?",
    ],
    102: [  # pt-BR support
        "Vocês fazem entrega para o Rio de Janeiro? Qual o prazo de entrega?",
        "Tem frete grátis?",
        "Como faço para trocar um produto?",
        "Aceitam Pix?",
    ],
    103: [  # pt-BR scheduling, ends in a booking
        "Quero agendar uma limpeza de pele",
        "Quais horários disponíveis no sábado?",
        "Pode ser o primeiro horário, às 9h. Meu nome é Carla.",
    ],
    104: [  # English sales
        "Hi, how much is the facial sunscreen?",
        "Do you have a moisturizer for dry skin?",
        "Is the vitamin C serum in stock?",
    ],
    105: [  # English support
        "Do you deliver to Rio de Janeiro?",
        "What is your return policy?",
        "Where is your store? What is the address?",
        "What payment methods do you accept?",
    ],
    106: [  # English scheduling
        "I'd like to book an eyebrow design appointment",
        "Which free slots do you have this week?",
        "Please book the first free slot for me, I confirm.",
    ],
    107: [  # pt-BR greeting, support, thanks
        "Bom dia!",
        "Qual o horário de funcionamento da loja?",
        "Obrigada pela ajuda!",
    ],
    108: [  # pt-BR: asks for a person
        "Quero falar com um atendente, por favor",
    ],
    109: [  # audio first, then text
        ("audio",),
        "Desculpa, queria saber o preço do kit de presente",
    ],
    110: [  # pt-BR mixed: sales then scheduling then cancel
        "Vocês vendem sabonete facial?",
        "Quero marcar uma massagem relaxante",
        "Quanto custa a massagem relaxante?",
        "Na verdade quero cancelar minha reserva",
    ],
    111: [  # English: asks for a person after a question
        "Do you have products for sensitive skin?",
        "Can I talk to a human agent?",
    ],
}


def turns() -> list[tuple[int, str | tuple[str]]]:
    return [(conversation, turn) for conversation, items in CONVERSATIONS.items() for turn in items]
