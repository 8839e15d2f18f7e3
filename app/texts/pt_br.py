"""Customer-facing texts in Brazilian Portuguese, the default language."""

from __future__ import annotations

LANGUAGE = "pt"  # the primary language subtag this module answers ("pt", "pt-BR", "pt_PT" …)

WEEKDAYS_SHORT = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")
WEEKDAYS_LONG = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")

TEXTS = {
    # handoff (worker and offline responder share this one text)
    "handoff": "Vou chamar uma pessoa da nossa equipe para continuar o seu atendimento. Só um instante, por favor.",
    "handoff_out_of_hours": "{base} Nossa equipe está fora do horário de atendimento agora e volta {back}.",
    "back_today": "hoje às {at}",
    "back_tomorrow": "amanhã às {at}",
    "back_on_day": "{day} às {at}",
    # attachments (hub)
    "attachment_ack": "Recebi {what}, mas por aqui ainda não consigo ouvir áudios nem abrir imagens ou arquivos. "
    "Pode me escrever em texto o que você precisa, por favor?",
    "attachment_note": "(Recebi também o seu anexo, mas por aqui não consigo abri-lo. Se ele for importante, "
    "me conte em texto o que ele mostra.)",
    "what_audio": "seu áudio",
    "what_video": "seu vídeo",
    "what_image": "sua imagem",
    "what_file": "seu arquivo",
    # offline responder
    "only_text": "Por enquanto só consigo ler texto — pode escrever sua pergunta?",
    "greeting": "Olá! Bem-vindo(a) à {business}. Como posso ajudar?",
    "welcome": "Por nada! Posso ajudar em algo mais?",
    "our_hours": "Nosso horário: {hours}.",
    "we_are_at": "Estamos em {address}.",
    "phone_is": "Telefone: {phone}.",
    "products_found": "Encontrei estes produtos:",
    "anything_else": "Posso ajudar com mais alguma coisa?",
    "service_offer": "{service}. Quer agendar? É só pedir um horário.",
    "no_booking": "Não encontrei nenhum agendamento seu.",
    "cancelled_list": "Cancelado:\n{listed}",
    "slot_taken": "Poxa, esse horário acabou de ser ocupado.",
    "booked": 'Pronto! Agendamento confirmado: {booking}. Para cancelar, é só escrever "cancelar".',
    "free_times": "Estes são os próximos horários livres:",
    "reply_with_number": "Responda com o número da opção.",
    # store records (products, business profile, bookings)
    "slot_when": "{day}, {start:%d/%m} às {start:%H:%M}",
    "cancelled_mark": " (cancelado)",
    "in_stock": "em estoque: {stock}",
    "out_of_stock": "esgotado",
    "closed": "fechado",
    "hours_label": "Horário: ",
    "address_label": "Endereço",
    "phone_label": "Telefone",
    "website_label": "Site",
    "policies_label": "Políticas",
    # tool results the LLM reads and retells
    "tool_no_product": "Nenhum produto encontrado.",
    "tool_product_not_found": "Produto {sku} não encontrado.",
    "tool_no_faq": "Nada encontrado nas perguntas frequentes.",
    "tool_no_services": "Nenhum serviço.",
    "tool_no_free_slot": "Nenhum horário livre.",
    "tool_refused": "Não foi possível concluir isso agora; uma pessoa da equipe vai continuar o atendimento.",
    "tool_slot_gone": "Esse horário não está mais livre. Horários livres:\n",
    "tool_cannot_book": "Não foi possível reservar: {error}",
    "tool_booking_not_found": "Reserva {booking_id} não encontrada.",
    "tool_booking_cancelled": "Reserva {booking_id} cancelada.",
}
