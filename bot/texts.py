"""Every sentence the bot shows to people, in one place (HTML parse mode; escape what users supply)."""

from __future__ import annotations

from html import escape

from bot.outcomes import Code, SkipReason

# --- commands menu -------------------------------------------------------------------------
COMMANDS: tuple[tuple[str, str], ...] = (
    ("pick", "Choose photos in Google Photos and get them here"),
    ("settings", "Photos or original files for this chat"),
    ("forward", "Send your picks to a group or channel"),
    ("cancel", "Stop the current pick"),
    ("status", "Which Google account is linked"),
    ("link", "Link your Google account"),
    ("unlink", "Disconnect your Google account"),
    ("help", "How this bot works"),
)

# --- welcome and help ----------------------------------------------------------------------
WELCOME = (
    "👋 Hi {name}! I bring photos and videos from <b>Google Photos</b> into Telegram, in full quality.\n\n"
    "First link your Google account — it takes a few seconds."
)
WELCOME_LINKED = "👋 Hi {name}! Your Google account <b>{email}</b> is linked.\n\nTap <b>Pick photos</b> or send /pick."
HELP = (
    "<b>How it works</b>\n"
    "1. /link — connect your Google account (once).\n"
    "2. /pick — tap <b>Open Google Photos</b>, choose photos and videos, tap <b>Done</b>.\n"
    "3. They arrive here as albums. /pick 20 limits a pick to 20 items.\n\n"
    "/settings — photos (fast, Telegram-sized) or original files\n"
    "/cancel — stop the current pick\n"
    "/status — which account is linked · /unlink — disconnect\n\n"
    "I only see the photos you pick, never your whole library."
)

# --- buttons -------------------------------------------------------------------------------
BUTTON_LINK = "🔗 Link Google account"
BUTTON_SIGN_IN = "Sign in with Google"
BUTTON_TRY_AGAIN = "Try again"
BUTTON_PICK = "📷 Pick photos"
BUTTON_OPEN_PRIVATE = "Continue in private chat"

# --- linking -------------------------------------------------------------------------------
LINK_PROMPT = (
    "Tap the button to sign in with Google and allow access to the photos you pick.\n"
    "The link works once and expires in 10 minutes.\n"
    "⚠️ <b>Don't forward this link</b>: it is for you alone, and links whichever Google account signs in with it "
    "to your Telegram."
)
LINK_PROMPT_RELINK = "You are linked as <b>{email}</b>. Signing in again replaces that link.\n\n" + LINK_PROMPT
LINK_IN_GROUP = "For your privacy, linking happens in our private chat. Tap below to continue there."
LINKED = "✅ Linked to <b>{email}</b>. Send /pick to choose photos."
LINK_DENIED = "Linking was cancelled, nothing was stored. Tap below whenever you want to try again."
LINK_SCOPE_MISSING = (
    "Google did not give me access to your photos (the Google Photos permission was unticked), "
    "so nothing was linked. Try again and leave that box ticked."
)
LINK_EXCHANGE_FAILED = "Google did not accept the sign-in, so nothing was linked. Please try again."
LINK_MISCONFIGURED = (
    "Google refused this bot's own sign-in settings, so nothing was linked. It is not about your account: "
    "the bot's operator has been alerted. Please try again later."
)
LINK_STATE_EXPIRED = "That sign-in link expired. Tap below for a new one."
NOT_LINKED = "You haven't linked a Google account yet. Tap below to link one."
LINK_BROKEN = "Google no longer accepts the access you gave earlier (it was revoked or expired). Please link again."
STATUS_LINKED = "Linked to <b>{email}</b>."
STATUS_BROKEN = "Your link to <b>{email}</b> stopped working (access was revoked or expired). Please link again."
UNLINKED = "Disconnected <b>{email}</b> and revoked my access at Google. Your stored tokens are deleted."
UNLINKED_REVOKE_FAILED = (
    "Deleted your stored tokens for <b>{email}</b>, but Google did not confirm the revocation. "
    "To be sure, remove the app at myaccount.google.com/permissions."
)
UNLINK_NOTHING = "No Google account is linked, so there is nothing to disconnect."

# --- in groups: account details stay private; slowing down -----------------------------------
WELCOME_GROUP = "👋 Hi {name}! Link your Google account in our private chat, then send /pick here to share photos."
WELCOME_GROUP_LINKED = "👋 Hi {name}! Your Google account is linked: send /pick here to share photos."
ACCOUNT_IN_PRIVATE = "For your privacy, your Google account is managed in our private chat: send /{command} there."
SLOW_DOWN = "⏳ {name}, that is a lot of requests at once: I'll ignore yours for a moment."

# --- errors --------------------------------------------------------------------------------
GOOGLE_DOWN = "Google isn't answering right now. Please try again in a minute."
UNEXPECTED = "Sorry, something went wrong on my side. Please try again."
BOT_MISCONFIGURED = (
    "Sorry, I can't reach Google Photos because of a configuration problem on my side — nothing is wrong with "
    "your account, and your link is kept. My operator has been alerted; please try again later."
)

# --- callback web page ---------------------------------------------------------------------
PAGE_LINKED = ("Account linked", "Your Google account is linked. You can go back to Telegram.")
PAGE_DENIED = ("Linking cancelled", "Nothing was linked. You can try again from Telegram whenever you like.")
PAGE_SCOPE_MISSING = (
    "Photos permission missing",
    "Google did not give access to your photos, so nothing was linked. Try again from Telegram and leave "
    "the Google Photos box ticked.",
)
PAGE_EXCHANGE_FAILED = ("Google did not accept the sign-in", "Nothing was linked. Please try again from Telegram.")
PAGE_MISCONFIGURED = (
    "The bot has a setup problem",
    "Google refused this bot's own sign-in settings, so nothing was linked. This is not about your account: "
    "the bot's operator has been alerted. Please try again later from Telegram.",
)
PAGE_BAD_STATE = (
    "This link is not valid",
    "It was already used, has expired, or was not made for you. Send /link in Telegram for a new one.",
)
PAGE_BUTTON = "Back to Telegram"

# --- the sign-in page before Google's consent: whose Telegram account is being linked ----------
PAGE_SIGN_IN_TITLE = "Sign in with Google"
PAGE_SIGN_IN_BODY = "You are giving Telegram user {name} access to the photos you pick."  # name: escaped, bold
PAGE_SIGN_IN_WARNING = "Not you? Someone forwarded you their sign-in link: tap “This isn't me”."
PAGE_SIGN_IN_CONTINUE = "Continue"
PAGE_SIGN_IN_NOT_ME = "This isn't me"
PAGE_CANCELLED = ("Sign-in cancelled", "Nothing was linked, and this sign-in link no longer works.")
LINK_CANCELLED_ON_PAGE = (
    "The sign-in was cancelled on its page (“This isn't me”), so nothing was linked. Tap below for a new link."
)


def html(value: object) -> str:
    return escape(str(value), quote=False)


# --- picking -------------------------------------------------------------------------------
GROUP_CHOOSING = "📷 {name} is choosing photos for this group…"
PICK_USAGE = "Send /pick, or /pick N to allow at most N items (N from 1 to {max})."
TOO_MANY_ACTIVE = "Too many of your picks are under way ({count}). Let them finish (or /cancel one) and try again."
TOO_MANY_PICKS = "That's {count} picks within an hour, the most I take. Please try again a little later."
PICK_TOO_BIG = (
    "You picked {count} items, more than the {limit} I take in one pick, so I didn't fetch any. "
    "Please pick fewer and try again."
)
PICK_PROMPT = (
    "📷 Tap <b>Open Google Photos</b>, choose photos and videos, then tap <b>Done</b> — they will arrive here.\n"
    "Use the Google account <b>{email}</b>.{limit}"
)
PICK_PROMPT_LIMIT = " Up to {count} items."
BUTTON_OPEN_PHOTOS = "Open Google Photos"
BUTTON_QR = "QR code"
BUTTON_CANCEL = "Cancel"
QR_CAPTION = "Scan this with your phone's camera to choose photos in Google Photos there."
PICK_REPLACED = "This pick was replaced by a newer one."
PICK_CANCELLED = "Pick cancelled. Send /pick whenever you want to start again."
PICK_EXPIRED = "⌛ The Google Photos link expired before anything was picked. Send /pick to start again."
PICK_PICKED = "👍 Got your selection. Fetching it now…"
PICK_NOTHING_PICKED = "You tapped Done without choosing anything. Send /pick to try again."
NOTHING_TO_CANCEL = "There is no pick waiting for you here."
CANCEL_TOO_LATE = "Your photos are already on their way, so there is nothing to cancel."
SESSION_NOT_YOURS = "Only the person who started this pick can use these buttons."
SESSION_OVER = "This pick has already finished."
GOOGLE_NO_PHOTOS = "This Google account has no Google Photos library, so there is nothing to pick from."
GOOGLE_TOO_MANY_SESSIONS = (
    "Google won't open another pick for your account: too many are still open there, even after I closed "
    "the ones waiting here. Let the picks under way finish, then try again."
)
PROGRESS_DOWNLOADING = "⏳ Downloading {done} / {total}…"
PROGRESS_SENDING = "📤 Sending {done} / {total}…"
PROGRESS_WAITING_VIDEOS = "⏳ Waiting for Google to finish processing {count} video(s)…"
PROGRESS_QUEUED = "⏳ Many deliveries are under way: waiting for a free slot, position {position}…"
SUMMARY_ALL = "✅ Delivered all {total}."
SUMMARY_SOME = "✅ Delivered {sent} of {total}"
SUMMARY_NONE = "⚠️ Delivered 0 of {total}"
SHARED_BY = "📷 Shared by {name}"
TARGET_LOST = (
    "I can no longer post in the chat these photos were meant for (I was removed, or you or I lost the right "
    "to post). Sending them here instead."
)
DELIVERY_LINK_BROKEN = "Google stopped accepting your access while I was fetching. Link again with /link."

# Reasons an item was not delivered (shown grouped in the summary).
REASON_TOO_BIG = "over {limit}"
REASON_PROCESSING = "still processing at Google"
REASON_UNAVAILABLE = "Google could not provide it"
REASON_GOOGLE_DOWN = "Google was not answering"
REASON_SESSION_EXPIRED = "the Google session expired first"
REASON_REFUSED = "Telegram refused it ({error})"
REASON_IN_DOUBT = "interrupted by a restart mid-upload (it may have arrived above)"
REASON_UNCONFIRMED = "Telegram did not confirm it in time (it may have arrived above)"
REASON_LINK_BROKEN = "Google access was revoked"
REASON_CHAT_GONE = "this chat can no longer receive messages"
REASON_VIDEO_FAILED = "Google could not process the video"
REASON_BOT_MISCONFIGURED = "a configuration problem on my side"
REASON_NO_DISK_SPACE = "my disk is nearly full right now; pick it again later"


def file_size(size: int) -> str:
    if size >= 1_000_000_000:
        return f"{size / 1e9:.1f} GB"
    if size >= 1_000_000:
        return f"{size / 1e6:.0f} MB"
    return f"{max(1, round(size / 1e3))} kB"


def posted_in(title: str, link: str | None) -> str:
    where = f"<b>{html(title)}</b>" if title else "the chosen chat"
    return f"Posted in {where}: {html(link)}" if link else f"Posted in {where}."


def summary(total: int, sent: int, skipped: dict[str, list[str]]) -> str:
    """One summary line, then one line per reason with the files it applies to."""
    if sent == total:
        head = SUMMARY_ALL.format(total=total)
    elif sent == 0:
        head = SUMMARY_NONE.format(total=total)
    else:
        head = SUMMARY_SOME.format(sent=sent, total=total)
    lines = [head]
    for reason, names in skipped.items():
        shown = ", ".join(html(n) for n in names[:5])
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        lines.append(f"· {len(names)} {html(reason)}: {shown}{more}")
    return "\n".join(lines)


# --- settings ------------------------------------------------------------------------------
SETTINGS = (
    "<b>How should picks arrive in this chat?</b>\nNow: <b>{current}</b>\n\n"
    "📷 Photos — fast, in albums, sized for Telegram.\n"
    "📁 Original files — full quality, as files with their names.\n\n"
    "Videos come as Google's high-quality transcode (MP4) either way: Google Photos gives apps no original "
    "video files."
)
SETTINGS_PHOTOS = "📷 Photos"
SETTINGS_ORIGINALS = "📁 Original files"
SETTINGS_NAMES = {"photos": "Photos", "originals": "Original files"}
SETTINGS_SAVED = "Saved: {current}"
SETTINGS_NOT_YOURS = "Only the person who opened these settings can change them."
SETTINGS_ADMINS_ONLY = "Only group admins can change how photos arrive in this group."
SETTINGS_EXPIRED = "These buttons are out of date. Send /settings again."

# --- groups --------------------------------------------------------------------------------
GROUP_LINK_FIRST = "{name}, link your Google account in our private chat first — then your pick comes here."
GROUP_START_PRIVATELY = "{name}, open our private chat to choose photos — they will arrive in this group."
GROUP_PICK_FAILED = "{name}: {error}"
BUTTON_CONTINUE_PICK = "📷 Pick photos for {title}"
LINKED_CONTINUE = "✅ Linked to <b>{email}</b>. Tap below to choose photos for <b>{title}</b>."
CLAIM_NOT_YOURS = "This button was made for someone else. Send /pick in the group to get your own."
CLAIM_NOT_IN_GROUP = (
    "You are no longer in that group, may not post photos there, or I can't post there, so I won't start a pick for it."
)
CLAIM_EXPIRED = "That link has expired or was already used. Send /pick in the group again."
PICK_CHAT_GONE = "This pick was stopped: I was removed from <b>{title}</b>, where the photos were meant to go."

# --- forwarding ----------------------------------------------------------------------------
FORWARD_HOW = (
    "Choose a group or channel and picks you make here will be posted there. "
    "For a channel, I need to be an administrator who can post."
)
FORWARD_CURRENT = "Picks you make here go to <b>{title}</b>."
BUTTON_CHOOSE_GROUP = "Choose a group"
BUTTON_CHOOSE_CHANNEL = "Choose a channel"
BUTTON_STOP_FORWARDING = "Stop forwarding"
FORWARD_SET = "✅ From now on, picks you make here go to <b>{title}</b>. /forward off stops that."
FORWARD_OFF = "Forwarding stopped: picks you make here arrive here."
FORWARD_NONE = "Forwarding is already off: picks arrive here."
FORWARD_PRIVATE_ONLY = "Forwarding is set up in our private chat."
FORWARD_GONE = "I was removed from <b>{title}</b>, so your picks now arrive here instead."
FORWARD_CHAT_GONE = "I can't see that chat. Add me to it first, then choose it again."
FORWARD_BOT_CANNOT_POST = "I'm not allowed to post there. In a channel, make me an administrator who can post."
FORWARD_USER_NOT_MEMBER = "You are not a member of that chat, so I can't post there for you."
FORWARD_USER_NOT_ADMIN = "Only channel administrators who can post may send photos there."

# --- who may post into a group (plain text: also shown as a button's alert) ------------------
USER_CANNOT_POST_MEDIA = "You may not post photos and videos in that chat, so I won't post them there for you."
GROUP_BUTTON_TOO_OFTEN = "That button was pressed too often. Please wait a minute and try again."


def mention(user_id: int, name: str) -> str:
    """A real mention: it links to the user whatever name they chose."""
    return f'<a href="tg://user?id={user_id}">{html(name)}</a>'


# --- admin ---------------------------------------------------------------------------------
ADMIN_STATS = (
    "<b>Bot statistics</b>\n"
    "Users: {users}\n"
    "Google links: {links_active} active, {links_broken} broken\n"
    "Picks under way: {active_sessions}\n"
    "Delivered today (UTC): {delivered_today}"
)

# --- buttons that are not (or no longer) ours ---------------------------------------------
BUTTON_UNKNOWN = "This button no longer works. Send /help to see what I can do."


# --- Telegram's limits (issue 11: summaries, checks Telegram will not answer) ----------------
SUMMARY_MORE = "· and {count} more not delivered (too many reasons to list here)"
SETTINGS_CANNOT_CHECK = (
    "I can't see who the admins of this group are, so I can't tell whether you may change how photos arrive "
    "here. Making me an admin lets me check."
)

# --- rendering codes -----------------------------------------------------------------------
_SAYINGS: dict[Code, str] = {
    Code.NOT_LINKED: NOT_LINKED,
    Code.LINK_BROKEN: LINK_BROKEN,
    Code.GOOGLE_DOWN: GOOGLE_DOWN,
    Code.GOOGLE_NO_PHOTOS: GOOGLE_NO_PHOTOS,
    Code.GOOGLE_TOO_MANY_SESSIONS: GOOGLE_TOO_MANY_SESSIONS,
    Code.TOO_MANY_ACTIVE: TOO_MANY_ACTIVE,
    Code.TOO_MANY_PICKS: TOO_MANY_PICKS,
    Code.PROMPT_UNDELIVERABLE: UNEXPECTED,
    Code.SESSION_OVER: SESSION_OVER,
    Code.SESSION_NOT_YOURS: SESSION_NOT_YOURS,
    Code.NOTHING_TO_CANCEL: NOTHING_TO_CANCEL,
    Code.CANCEL_TOO_LATE: CANCEL_TOO_LATE,
    Code.PICK_CANCELLED: PICK_CANCELLED,
    Code.PICK_REPLACED: PICK_REPLACED,
    Code.PICK_EXPIRED: PICK_EXPIRED,
    Code.PICK_CHAT_GONE: PICK_CHAT_GONE,
    Code.PICK_PICKED: PICK_PICKED,
    Code.PICK_TOO_BIG: PICK_TOO_BIG,
    Code.DELIVERY_LINK_BROKEN: DELIVERY_LINK_BROKEN,
    Code.TARGET_LOST: TARGET_LOST,
    Code.FORWARD_GONE: FORWARD_GONE,
    Code.UNEXPECTED: UNEXPECTED,
    Code.CLAIM_NOT_YOURS: CLAIM_NOT_YOURS,
    Code.CLAIM_EXPIRED: CLAIM_EXPIRED,
    Code.CLAIM_NOT_IN_GROUP: CLAIM_NOT_IN_GROUP,
    Code.CHAT_GONE: FORWARD_CHAT_GONE,
    Code.BOT_CANNOT_POST: FORWARD_BOT_CANNOT_POST,
    Code.USER_NOT_MEMBER: FORWARD_USER_NOT_MEMBER,
    Code.USER_NOT_ADMIN: FORWARD_USER_NOT_ADMIN,
    Code.USER_CANNOT_POST_MEDIA: USER_CANNOT_POST_MEDIA,
    Code.GROUP_BUTTON_TOO_OFTEN: GROUP_BUTTON_TOO_OFTEN,
    Code.BOT_MISCONFIGURED: BOT_MISCONFIGURED,
}

_SKIP_REASONS: dict[SkipReason, str] = {
    SkipReason.TOO_BIG: REASON_TOO_BIG,
    SkipReason.STILL_PROCESSING: REASON_PROCESSING,
    SkipReason.UNAVAILABLE: REASON_UNAVAILABLE,
    SkipReason.GOOGLE_DOWN: REASON_GOOGLE_DOWN,
    SkipReason.SESSION_EXPIRED: REASON_SESSION_EXPIRED,
    SkipReason.TELEGRAM_REFUSED: REASON_REFUSED,
    SkipReason.IN_DOUBT: REASON_IN_DOUBT,
    SkipReason.UNCONFIRMED: REASON_UNCONFIRMED,
    SkipReason.LINK_BROKEN: REASON_LINK_BROKEN,
    SkipReason.CHAT_GONE: REASON_CHAT_GONE,
    SkipReason.VIDEO_FAILED: REASON_VIDEO_FAILED,
    SkipReason.BOT_MISCONFIGURED: REASON_BOT_MISCONFIGURED,
    SkipReason.NO_DISK_SPACE: REASON_NO_DISK_SPACE,
}


def say(code: Code, **params: object) -> str:
    """The sentence for `code`, its parameters filled in (text parameters HTML-escaped)."""
    values = {name: html(value) if isinstance(value, str) else value for name, value in params.items()}
    return _SAYINGS[code].format(**values)


def skip_reason(reason: SkipReason, detail: str | None = None) -> str:
    """Why an item was not delivered, as the summary shows it (not escaped: the summary escapes it)."""
    sentence = _SKIP_REASONS[reason]
    if reason is SkipReason.TOO_BIG:
        return sentence.format(limit=file_size(int(detail or 0)))
    if reason is SkipReason.TELEGRAM_REFUSED:
        return sentence.format(error=detail or "")
    return sentence
