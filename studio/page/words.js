// The browser code's words (sidebar.js, image_gallery.js, keyboard.js, exports.js), in English
// and Russian; the page's own are in words.py. Chosen as Gradio chooses the page's: by the
// browser's language, `ru…` Russian, any other English. `wordsFor(tag)` is the function the
// other files are given: `say(key, { name: value })` fills in `{name}`.
() => {
    const WORDS = {
        en: {
            "sidebar.search": "Search conversations",
            "sidebar.list": "Conversations",
            "sidebar.new_title": "New title for “{title}”",
            "sidebar.save_title": "Save the title",
            "sidebar.keep_title": "Keep the old title",
            "sidebar.delete_question": "Delete “{title}”?",
            "sidebar.delete": "Delete",
            "sidebar.keep": "Keep",
            "sidebar.rename_one": "Rename “{title}”",
            "sidebar.delete_one": "Delete “{title}”",
            "sidebar.none": "No conversations yet.",
            "sidebar.no_match": "No conversation matches “{query}”.",
            "images.view": "Image",
            "images.close": "Close",
            "images.ratio": "Aspect ratio {ratio}",
            "images.download": "Download",
            "images.download_one": "Download image {number}",
            "images.reuse": "Use this prompt again",
            "images.unkept": "This browser keeps no images here.",
            "images.yours": "Your images",
            "images.yours_count": "Your images ({count})",
            "images.clear": "Clear images",
            "images.cleared_one": "Cleared 1 image.",
            "images.cleared": "Cleared {count} images.",
            "images.undo": "Undo",
            "images.empty": "The images you make are kept in this browser and shown here.",
            "images.soon": "Your images will appear here.",
            "images.lost_one":
                "1 image could not be fetched from the server: it may have been removed. Try again.",
            "images.lost":
                "{count} images could not be fetched from the server: they may have been removed. Try again.",
            "images.not_kept":
                "This browser would not keep these images (its storage may be full or off), so they will not be in your gallery.",
            "keys.save_edit": "Save and send",
            "keys.cancel_edit": "Cancel editing",
            "exports.nothing": "Nothing to export yet: send a message first.",
            "exports.failed": "Not exported: {reason}.",
        },
        ru: {
            "sidebar.search": "Поиск по разговорам",
            "sidebar.list": "Разговоры",
            "sidebar.new_title": "Новое название для «{title}»",
            "sidebar.save_title": "Сохранить название",
            "sidebar.keep_title": "Оставить прежнее название",
            "sidebar.delete_question": "Удалить «{title}»?",
            "sidebar.delete": "Удалить",
            "sidebar.keep": "Оставить",
            "sidebar.rename_one": "Переименовать «{title}»",
            "sidebar.delete_one": "Удалить «{title}»",
            "sidebar.none": "Разговоров пока нет.",
            "sidebar.no_match": "Нет разговоров по запросу «{query}».",
            "images.view": "Изображение",
            "images.close": "Закрыть",
            "images.ratio": "Соотношение сторон {ratio}",
            "images.download": "Скачать",
            "images.download_one": "Скачать изображение {number}",
            "images.reuse": "Использовать это описание снова",
            "images.unkept": "Этот браузер не хранит здесь изображения.",
            "images.yours": "Ваши изображения",
            "images.yours_count": "Ваши изображения ({count})",
            "images.clear": "Очистить",
            "images.cleared_one": "Изображение удалено.",
            "images.cleared": "Удалено изображений: {count}.",
            "images.undo": "Отменить",
            "images.empty": "Созданные изображения хранятся в этом браузере и показываются здесь.",
            "images.soon": "Здесь появятся ваши изображения.",
            "images.lost_one":
                "Не удалось получить изображение с сервера: возможно, оно уже удалено. Попробуйте ещё раз.",
            "images.lost":
                "Не удалось получить с сервера изображений: {count}. Возможно, они уже удалены. Попробуйте ещё раз.",
            "images.not_kept":
                "Браузер не сохранил эти изображения (хранилище переполнено или отключено), поэтому их не будет в галерее.",
            "keys.save_edit": "Сохранить и отправить",
            "keys.cancel_edit": "Отменить правку",
            "exports.nothing": "Экспортировать пока нечего: сначала отправьте сообщение.",
            "exports.failed": "Не экспортировано: {reason}.",
        },
    };

    const languageOf = (tag) => (/^ru(-|$)/i.test(String(tag ?? "")) ? "ru" : "en");

    const wordsFor = (tag) => {
        const chosen = WORDS[languageOf(tag)];
        return (key, values = {}) =>
            String(chosen[key] ?? WORDS.en[key] ?? key).replace(/\{(\w+)\}/g, (whole, name) =>
                name in values ? String(values[name]) : whole,
            );
    };

    return { WORDS, languageOf, wordsFor };
}
