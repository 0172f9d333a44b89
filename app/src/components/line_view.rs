use crate::clock;
use crate::line::{Line, MAX_TEXT_CHARS};
use crate::text::{Segment, mentions, segments};
use leptos::prelude::*;

/// One line of the log. User text is only ever text nodes: `http(s)://` URLs in it become links
/// (to another tab, with no referrer or ranking passed on; isolated left to right, so that the
/// text around them cannot reorder them), nothing else becomes markup. A line
/// that mentions the reader's own name stands out. On the reader's own lines (`mine`), Edit
/// and Delete ([`actions`]).
#[component]
pub fn LineView(
    line: Line,
    local_time: ReadSignal<bool>,
    reader: RwSignal<Option<String>>,
    mine: bool,
) -> impl IntoView {
    let Line {
        id,
        screenname,
        text,
        created,
        edited,
        revision: _,
    } = line;
    let edited = edited.map(|at| {
        let title = format!("Edited {}", clock::display(&at, false));
        view! { <span class="edited" title=title>"edited"</span> }
    });
    // Always there, so that the page hydrates the same structure whoever renders it: the
    // server fills it on the reader's lines, the browser on lines it posted since.
    let actions = view! { <span class="line-actions" inner_html=if mine { actions(id) } else { String::new() } /> };
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
        <div class="line" class:mention=mentioned data-id=id>
            <time datetime=created>{shown}</time>
            <bdi class="name" title=screenname.clone()>{screenname.clone()}</bdi>
            <span class="text" dir="auto">{runs}</span>
            {edited}
            {actions}
        </div>
    }
}

/// Edit and Delete of line `id`: plain forms inside a disclosure (which is Delete's
/// confirmation too), posted as forms with JavaScript or without (each comes back to the page;
/// the change reaches every other page through the poll). Markup of ours alone (no user text:
/// the edit's field starts empty), written as one string: the same on both sides, and a
/// fraction of the wasm that views of these elements would take.
pub fn actions(id: i64) -> String {
    format!(
        r#"<details class="line-edit"><summary>Edit</summary><form class="line-action" method="post" action="/api/edit"><input type="hidden" name="id" value="{id}"><input name="text" maxlength="{MAX_TEXT_CHARS}" aria-label="New text" placeholder="New text" required><button type="submit">Save</button></form></details><details class="line-delete"><summary>Delete</summary><form class="line-action" method="post" action="/api/delete"><input type="hidden" name="id" value="{id}"><button type="submit">Delete this line</button></form></details>"#
    )
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use crate::api::{DeleteLine, EditLine};
    use leptos::server_fn::ServerFn;

    #[test]
    fn the_actions_post_to_the_api_with_the_lines_id() {
        let html = super::actions(42);
        assert!(html.contains(&format!(r#"action="{}""#, EditLine::PATH)));
        assert!(html.contains(&format!(r#"action="{}""#, DeleteLine::PATH)));
        assert_eq!(html.matches(r#"name="id" value="42""#).count(), 2);
    }
}
