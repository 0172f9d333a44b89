use crate::clock;
use crate::line::Line;
use crate::text::{Segment, mentions, segments};
use leptos::prelude::*;

/// One line of the log. User text is only ever text nodes: `http(s)://` URLs in it become links
/// (to another tab, with no referrer or ranking passed on; isolated left to right, so that the
/// text around them cannot reorder them), nothing else becomes markup. A line
/// that mentions the reader's own name stands out.
#[component]
pub fn LineView(
    line: Line,
    local_time: ReadSignal<bool>,
    reader: RwSignal<Option<String>>,
) -> impl IntoView {
    let Line {
        id,
        screenname,
        text,
        created,
        edited,
        revision: _,
    } = line;
    let shown = {
        let created = created.clone();
        move || clock::display(&created, local_time.get())
    };
    let mentioned = {
        let text = text.clone();
        move || reader.with(|name| name.as_deref().is_some_and(|name| mentions(&text, name)))
    };
    let runs = segments(&text)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(run) => run.to_owned().into_any(),
            Segment::Link(url) => view! {
                <a href=url.to_owned() rel="nofollow noopener noreferrer ugc" target="_blank" dir="ltr">
                    {url.to_owned()}
                </a>
            }
            .into_any(),
        })
        .collect_view();
    view! {
        <p class="line" class:mention=mentioned data-id=id>
            <time datetime=created>{shown}</time>
            <bdi class="name" title=screenname.clone()>{screenname.clone()}</bdi>
            <span class="text" dir="auto">{runs}</span>
        </p>
    }
}
