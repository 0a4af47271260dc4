"""Every sentence the bot shows to people, in one place, and the `Speaker` that says them in one language.

The constants are the English messages, which are also the catalog's msgids (bot/locales/messages.pot,
extracted with `pybabel extract`): `N_` and `NP_` only mark them. A `Speaker` translates them when rendering,
at the edge, for the person or chat that reads them. Messages are Telegram HTML unless a comment says otherwise;
parameters are `{named}`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from html import escape

from babel import Locale
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal
from babel.units import format_unit

from bot import i18n
from bot.outcomes import Code, SkipReason

Plural = tuple[str, str]


def N_(message: str) -> str:
    """Marks a message for extraction; a `Speaker` translates it when it is rendered."""
    return message


def NP_(singular: str, plural: str) -> Plural:
    """Marks a message with plural forms (ngettext): the form is chosen by its `{count}`."""
    return singular, plural


def html(value: object) -> str:
    return escape(str(value), quote=False)


def mention(user_id: int, name: str) -> str:
    """A real mention: it links to the user whatever name they chose."""
    return f'<a href="tg://user?id={user_id}">{html(name)}</a>'


# --- commands menu -------------------------------------------------------------------------
COMMANDS: tuple[tuple[str, str], ...] = (
    # NOTE: The command menu Telegram shows beside the text field: short descriptions (at most 256 characters).
    ("pick", N_("Choose photos in Google Photos and get them here")),
    ("settings", N_("Photos, original files or ZIP archives for this chat")),
    ("language", N_("Choose the language I speak")),
    ("forward", N_("Send your picks to a group or channel")),
    ("cancel", N_("Stop the current pick")),
    ("status", N_("Which Google account is linked")),
    ("link", N_("Link your Google account")),
    ("unlink", N_("Disconnect your Google account")),
    ("help", N_("How this bot works")),
)

# --- welcome and help ----------------------------------------------------------------------
# NOTE: Messages are Telegram HTML: keep the tags (<b>…</b>, <a href="…">…</a>) and every {placeholder} as
# they are; {name} is the person's first name. Commands (/pick, /link…) stay as they are.
WELCOME = N_(
    "👋 Hi {name}! I bring photos and videos from <b>Google Photos</b> into Telegram, in full quality.\n\n"
    "First link your Google account — it takes a few seconds."
)
WELCOME_LINKED = N_(
    "👋 Hi {name}! Your Google account <b>{email}</b> is linked.\n\nTap <b>Pick photos</b> or send /pick."
)
HELP = N_(
    "<b>How it works</b>\n"
    "1. /link — connect your Google account (once).\n"
    "2. /pick — tap <b>Open Google Photos</b>, choose photos and videos, tap <b>Done</b>.\n"
    "3. They arrive here as albums. /pick 20 limits a pick to 20 items.\n\n"
    "/settings — photos (fast, Telegram-sized), original files or ZIP archives\n"
    "/cancel — stop the current pick\n"
    "/status — which account is linked · /unlink — disconnect\n\n"
    "I only see the photos you pick, never your whole library."
)

# --- buttons (short: a phone shows about 30 characters across) -----------------------------
BUTTON_LINK = N_("🔗 Link Google account")
BUTTON_SIGN_IN = N_("Sign in with Google")
BUTTON_TRY_AGAIN = N_("Try again")
BUTTON_PICK = N_("📷 Pick photos")
BUTTON_OPEN_PRIVATE = N_("Continue in private chat")

# --- linking -------------------------------------------------------------------------------
# NOTE: {duration} is like "10 minutes", already in your language.
LINK_PROMPT = N_(
    "Tap the button to sign in with Google and allow access to the photos you pick.\n"
    "The link works once and expires in {duration}.\n"
    "⚠️ <b>Don't forward this link</b>: it is for you alone, and links whichever Google account signs in with it "
    "to your Telegram."
)
# NOTE: Shown above the previous message, when an account is linked already.
LINK_PROMPT_RELINK = N_("You are linked as <b>{email}</b>. Signing in again replaces that link.")
LINK_IN_GROUP = N_("For your privacy, linking happens in our private chat. Tap below to continue there.")
LINKED = N_("✅ Linked to <b>{email}</b>. Send /pick to choose photos.")
LINK_DENIED = N_("Linking was cancelled, nothing was stored. Tap below whenever you want to try again.")
LINK_SCOPE_MISSING = N_(
    "Google did not give me access to your photos (the Google Photos permission was unticked), "
    "so nothing was linked. Try again and leave that box ticked."
)
LINK_EXCHANGE_FAILED = N_("Google did not accept the sign-in, so nothing was linked. Please try again.")
LINK_MISCONFIGURED = N_(
    "Google refused this bot's own sign-in settings, so nothing was linked. It is not about your account: "
    "the bot's operator has been alerted. Please try again later."
)
LINK_STATE_EXPIRED = N_("That sign-in link expired. Tap below for a new one.")
# NOTE: Sign-in by paste (a bot run at home): below the link prompt. {address} is like "localhost:8080".
LINK_PASTE_HINT = N_(
    "📱 When Google is done, your browser may say it can't open <b>{address}</b>. That's expected: copy the whole "
    "address from the address bar and paste it here. I'll delete it from the chat right away."
)
PASTE_NOT_VALID = N_(
    "That address doesn't finish a sign-in of yours: it was used already, has expired, was made for someone else, "
    "or is not the one Google sent you to. Nothing was changed. Tap below for a new sign-in link."
)
PASTE_IN_GROUP = N_("{name}, sign-in addresses never go in a group: send yours to me in our private chat.")
NOT_LINKED = N_("You haven't linked a Google account yet. Tap below to link one.")
LINK_BROKEN = N_("Google no longer accepts the access you gave earlier (it was revoked or expired). Please link again.")
STATUS_LINKED = N_("Linked to <b>{email}</b>.")
STATUS_BROKEN = N_("Your link to <b>{email}</b> stopped working (access was revoked or expired). Please link again.")
UNLINKED = N_("Disconnected <b>{email}</b> and revoked my access at Google. Your stored tokens are deleted.")
UNLINKED_REVOKE_FAILED = N_(
    "Deleted your stored tokens for <b>{email}</b>, but Google did not confirm the revocation. "
    "To be sure, remove the app at myaccount.google.com/permissions."
)
UNLINK_NOTHING = N_("No Google account is linked, so there is nothing to disconnect.")

# --- in groups: account details stay private; slowing down -----------------------------------
WELCOME_GROUP = N_("👋 Hi {name}! Link your Google account in our private chat, then send /pick here to share photos.")
WELCOME_GROUP_LINKED = N_("👋 Hi {name}! Your Google account is linked: send /pick here to share photos.")
ACCOUNT_IN_PRIVATE = N_("For your privacy, your Google account is managed in our private chat: send /{command} there.")
SLOW_DOWN = N_("⏳ {name}, that is a lot of requests at once: I'll ignore yours for a moment.")

# --- errors --------------------------------------------------------------------------------
GOOGLE_DOWN = N_("Google isn't answering right now. Please try again in a minute.")
UNEXPECTED = N_("Sorry, something went wrong on my side. Please try again.")
BOT_MISCONFIGURED = N_(
    "Sorry, I can't reach Google Photos because of a configuration problem on my side — nothing is wrong with "
    "your account, and your link is kept. My operator has been alerted; please try again later."
)

# --- callback web page ---------------------------------------------------------------------
# NOTE: Web pages after Google's sign-in: plain text (no HTML tags); each is a title, then a sentence.
PAGE_LINKED = (N_("Account linked"), N_("Your Google account is linked. You can go back to Telegram."))
PAGE_DENIED = (N_("Linking cancelled"), N_("Nothing was linked. You can try again from Telegram whenever you like."))
PAGE_SCOPE_MISSING = (
    N_("Photos permission missing"),
    N_(
        "Google did not give access to your photos, so nothing was linked. Try again from Telegram and leave "
        "the Google Photos box ticked."
    ),
)
PAGE_EXCHANGE_FAILED = (
    N_("Google did not accept the sign-in"),
    N_("Nothing was linked. Please try again from Telegram."),
)
PAGE_MISCONFIGURED = (
    N_("The bot has a setup problem"),
    N_(
        "Google refused this bot's own sign-in settings, so nothing was linked. This is not about your account: "
        "the bot's operator has been alerted. Please try again later from Telegram."
    ),
)
PAGE_BAD_STATE = (
    N_("This link is not valid"),
    N_("It was already used, has expired, or was not made for you. Send /link in Telegram for a new one."),
)
PAGE_BUTTON = N_("Back to Telegram")

# --- the sign-in page before Google's consent: whose Telegram account is being linked ----------
PAGE_SIGN_IN_TITLE = N_("Sign in with Google")
# NOTE: {name} is the Telegram account's name and @username, shown in bold.
PAGE_SIGN_IN_BODY = N_("You are giving Telegram user {name} access to the photos you pick.")
# NOTE: “This isn't me” is the label of the button below (PAGE_SIGN_IN_NOT_ME): keep them the same.
PAGE_SIGN_IN_WARNING = N_("Not you? Someone forwarded you their sign-in link: tap “This isn't me”.")
PAGE_SIGN_IN_CONTINUE = N_("Continue")
PAGE_SIGN_IN_NOT_ME = N_("This isn't me")
# NOTE: Shown instead of Continue when the page is open inside an app (Telegram's in-app browser), where
# Google refuses to sign in: the person copies the page's address and opens it in their browser.
PAGE_OPEN_IN_BROWSER = N_("Open in your browser")
PAGE_OPEN_IN_BROWSER_WHY = N_(
    "Google doesn't allow signing in inside apps. Copy this page's address and open it in your browser "
    "(Chrome, Safari…) to continue."
)
PAGE_COPY_LINK = N_("Copy link")
PAGE_LINK_COPIED = N_("Copied. Paste it into your browser's address bar.")
PAGE_COPY_BY_HAND = N_("Copying was blocked: the address above is selected, copy it from there.")
PAGE_CANCELLED = (N_("Sign-in cancelled"), N_("Nothing was linked, and this sign-in link no longer works."))
LINK_CANCELLED_ON_PAGE = N_(
    "The sign-in was cancelled on its page (“This isn't me”), so nothing was linked. Tap below for a new link."
)


# --- picking -------------------------------------------------------------------------------
GROUP_CHOOSING = N_("📷 {name} is choosing photos for this group…")
PICK_USAGE = N_("Send /pick, or /pick N to allow at most N items (N from 1 to {max}).")
TOO_MANY_ACTIVE = N_("Too many of your picks are under way ({count}). Let them finish (or /cancel one) and try again.")
TOO_MANY_PICKS = NP_(
    "That's {count} pick within an hour, the most I take. Please try again a little later.",
    "That's {count} picks within an hour, the most I take. Please try again a little later.",
)
PICK_TOO_BIG = NP_(
    "You picked {count} item, more than the {limit} I take in one pick, so I didn't fetch any. "
    "Please pick fewer and try again.",
    "You picked {count} items, more than the {limit} I take in one pick, so I didn't fetch any. "
    "Please pick fewer and try again.",
)
# NOTE: “Open Google Photos” is our button below; “Done” is the button Google Photos shows: use its label in
# your language. {limit} is empty or the next message.
PICK_PROMPT = N_(
    "📷 Tap <b>Open Google Photos</b>, choose photos and videos, then tap <b>Done</b> — they will arrive here.\n"
    "Use the Google account <b>{email}</b>.{limit}"
)
# NOTE: Appended to the previous message: keep the leading space.
PICK_PROMPT_LIMIT = NP_(" Up to {count} item.", " Up to {count} items.")
BUTTON_OPEN_PHOTOS = N_("Open Google Photos")
BUTTON_QR = N_("QR code")
BUTTON_CANCEL = N_("Cancel")
QR_CAPTION = N_("Scan this with your phone's camera to choose photos in Google Photos there.")
PICK_REPLACED = N_("This pick was replaced by a newer one.")
PICK_CANCELLED = N_("Pick cancelled. Send /pick whenever you want to start again.")
PICK_EXPIRED = N_("⌛ The Google Photos link expired before anything was picked. Tap below to start again.")
# NOTE: Added under the pick's prompt a couple of minutes before its link runs out; {duration}: "2 minutes".
PICK_REMINDER = N_("⏳ <b>This link runs out in {duration}.</b> Choose your photos now, or start again later.")
BUTTON_PICK_AGAIN = N_("📷 Pick again")
PICK_PICKED = N_("👍 Got your selection. Fetching it now…")
PICK_NOTHING_PICKED = N_("You tapped Done without choosing anything. Send /pick to try again.")
NOTHING_TO_CANCEL = N_("There is no pick waiting for you here.")
CANCEL_TOO_LATE = N_("Your photos are already on their way, so there is nothing to cancel.")
SESSION_NOT_YOURS = N_("Only the person who started this pick can use these buttons.")
SESSION_OVER = N_("This pick has already finished.")
GOOGLE_NO_PHOTOS = N_("This Google account has no Google Photos library, so there is nothing to pick from.")
GOOGLE_TOO_MANY_SESSIONS = N_(
    "Google won't open another pick for your account: too many are still open there, even after I closed "
    "the ones waiting here. Let the picks under way finish, then try again."
)
PROGRESS_DOWNLOADING = N_("⏳ Downloading {done} / {total}…")
PROGRESS_SENDING = N_("📤 Sending {done} / {total}…")
PROGRESS_WAITING_VIDEOS = NP_(
    "⏳ Waiting for Google to finish processing {count} video…",
    "⏳ Waiting for Google to finish processing {count} videos…",
)
PROGRESS_QUEUED = N_("⏳ Many deliveries are under way: waiting for a free slot, position {position}…")
SUMMARY_ALL = NP_("✅ Delivered {count} item.", "✅ Delivered all {count}.")
SUMMARY_SOME = N_("✅ Delivered {sent} of {total}")
SUMMARY_NONE = N_("⚠️ Delivered 0 of {total}")
# NOTE: The caption of photos posted into a group; {name} is a link to the person who shared them.
SHARED_BY = N_("📷 Shared by {name}")
# NOTE: Captions on each photo or video when a chat asks for them in /settings. {date}: "Jul 14, 2026";
# {camera}: "Google Pixel 8".
CAPTION_DATE = N_("📅 {date}")
CAPTION_DATE_CAMERA = N_("📅 {date} · {camera}")
# NOTE: The caption of a ZIP archive of a pick: which items it holds, e.g. "Photos 1–87 of 400".
ARCHIVE_CAPTIONS = {
    "photos": N_("🗜 Photos {first}–{last} of {total}"),
    "videos": N_("🗜 Videos {first}–{last} of {total}"),
    "mixed": N_("🗜 Photos and videos {first}–{last} of {total}"),
}
ARCHIVE_ONE_PHOTO = N_("🗜 Photo {first} of {total}")
ARCHIVE_ONE_VIDEO = N_("🗜 Video {first} of {total}")
# NOTE: Asked before a long delivery. {albums} and {zips} are durations like "20 minutes"; {archives} is one of
# ARCHIVE_FILES below, like "10 ZIP files".
ARCHIVE_OFFER = NP_(
    "⏱ {count} photo takes about {albums} here as albums — send as {archives} in about {zips} instead?",
    "⏱ {count} photos take about {albums} here as albums — send as {archives} in about {zips} instead?",
)
ARCHIVE_OFFER_WITH_VIDEOS = NP_(
    "⏱ {count} photo or video takes about {albums} here as albums — send as {archives} in about {zips} instead?",
    "⏱ {count} photos and videos take about {albums} here as albums — send as {archives} in about {zips} instead?",
)
ARCHIVE_FILES = NP_("{count} ZIP file", "{count} ZIP files")
BUTTON_ARCHIVES = N_("🗜 ZIP files")
BUTTON_ALBUMS = N_("📷 Albums")
ARCHIVE_OFFER_ARCHIVES = N_("🗜 Sending them as ZIP files.")
ARCHIVE_OFFER_ALBUMS = N_("📷 Sending them as albums.")
ARCHIVE_OFFER_SILENCE = N_("📷 No answer, so sending them as albums.")
ARCHIVE_OFFER_NOT_YOURS = N_("Only the person who picked these can choose how they arrive.")
ARCHIVE_OFFER_OVER = N_("Too late to change: they are on their way already.")
TARGET_LOST = N_(
    "I can no longer post in the chat these photos were meant for (I was removed, or you or I lost the right "
    "to post). Sending them here instead."
)
DELIVERY_LINK_BROKEN = N_("Google stopped accepting your access while I was fetching. Link again with /link.")
# NOTE: No repeats in a chat: items this chat was sent before (by anyone) are not sent again. A summary's last line.
SUMMARY_REPEATS = NP_("🔁 {count} was already shared here.", "🔁 {count} were already shared here.")
# NOTE: The whole summary when every item picked was sent to this chat before.
SUMMARY_ALL_REPEATS = NP_(
    "🔁 Already shared here ({count} item), so I didn't send it again.",
    "🔁 All {count} were already shared here, so I didn't send them again.",
)
# NOTE: The same two, in the private chat, about the group or channel that picks are forwarded to.
SUMMARY_REPEATS_THERE = NP_(
    "🔁 {count} was already shared in the chat your picks go to.",
    "🔁 {count} were already shared in the chat your picks go to.",
)
SUMMARY_ALL_REPEATS_THERE = NP_(
    "🔁 Already shared in the chat your picks go to ({count} item), so I didn't send it again.",
    "🔁 All {count} were already shared in the chat your picks go to, so I didn't send them again.",
)
# NOTE: Button under that summary: sends the repeats after all.
BUTTON_SEND_ANYWAY = N_("Send them anyway")
# NOTE: Shown to whoever pressed it (plain text, a short alert).
REPEATS_SENDING = N_("Sending them again…")
REPEATS_NOT_YOURS = N_("Only the person who picked these can send them again.")
REPEATS_OVER = N_("That button has expired or was already used. Send /pick to share photos again.")

# Reasons an item was not delivered (shown grouped in the summary).
# NOTE: A reason follows a number of files in the summary, like “· 2 over 50 MB: a.mp4, b.mp4”. {limit} is a size
# like “50 MB”; {error} is Telegram's own error text, in English.
REASON_TOO_BIG = N_("over {limit}")
REASON_PROCESSING = N_("still processing at Google")
REASON_UNAVAILABLE = N_("Google could not provide it")
REASON_GOOGLE_DOWN = N_("Google was not answering")
REASON_SESSION_EXPIRED = N_("the Google session expired first")
REASON_REFUSED = N_("Telegram refused it ({error})")
REASON_IN_DOUBT = N_("interrupted by a restart mid-upload (it may have arrived above)")
REASON_UNCONFIRMED = N_("Telegram did not confirm it in time (it may have arrived above)")
REASON_LINK_BROKEN = N_("Google access was revoked")
REASON_CHAT_GONE = N_("this chat can no longer receive messages")
REASON_VIDEO_FAILED = N_("Google could not process the video")
REASON_BOT_MISCONFIGURED = N_("a configuration problem on my side")
REASON_NO_DISK_SPACE = N_("my disk is nearly full right now; pick it again later")


# NOTE: A summary's line per reason: {count} files, {reason} (one of the reasons above), {names} (file names).
SUMMARY_LINE = N_("· {count} {reason}: {names}")
SUMMARY_AND_MORE = NP_(" and {count} more", " and {count} more")
POSTED_IN = N_("Posted in {where}.")
POSTED_IN_LINK = N_("Posted in {where}: {link}")
# NOTE: Stands for {where} above when the chat has no title.
THE_CHOSEN_CHAT = N_("the chosen chat")


# --- settings ------------------------------------------------------------------------------
SETTINGS = N_(
    "<b>How should picks arrive in this chat?</b>\nNow: <b>{current}</b>\n\n"
    "📷 Photos — fast, in albums, sized for Telegram.\n"
    "📁 Original files — full quality, as files with their names.\n"
    "🗜 Archive (ZIP) — the original files in a few ZIP files: a big pick in minutes.\n\n"
    "Videos come as Google's high-quality transcode (MP4) either way: Google Photos gives apps no original "
    "video files."
)
SETTINGS_PHOTOS = N_("📷 Photos")
SETTINGS_ORIGINALS = N_("📁 Original files")
SETTINGS_ARCHIVE = N_("🗜 Archive (ZIP)")
SETTINGS_NAMES = {"photos": N_("Photos"), "originals": N_("Original files"), "archive": N_("Archive (ZIP)")}
SETTINGS_SAVED = N_("Saved: {current}")
SETTINGS_NOT_YOURS = N_("Only the person who opened these settings can change them.")
SETTINGS_ADMINS_ONLY = N_("Only group admins can change how photos arrive in this group.")
SETTINGS_EXPIRED = N_("These buttons are out of date. Send /settings again.")
# NOTE: The captions row of /settings; {current} is one of the names below.
SETTINGS_CAPTIONS = N_("Captions on each photo: <b>{current}</b>")
CAPTIONS_NAMES = {"none": N_("None"), "date": N_("Date"), "camera": N_("Date and camera")}

# --- groups --------------------------------------------------------------------------------
GROUP_LINK_FIRST = N_("{name}, link your Google account in our private chat first — then your pick comes here.")
GROUP_START_PRIVATELY = N_("{name}, open our private chat to choose photos — they will arrive in this group.")
GROUP_PICK_FAILED = N_("{name}: {error}")
BUTTON_CONTINUE_PICK = N_("📷 Pick photos for {title}")
LINKED_CONTINUE = N_("✅ Linked to <b>{email}</b>. Tap below to choose photos for <b>{title}</b>.")
CLAIM_NOT_YOURS = N_("This button was made for someone else. Send /pick in the group to get your own.")
CLAIM_NOT_IN_GROUP = N_(
    "You are no longer in that group, may not post photos there, or I can't post there, so I won't start a pick for it."
)
CLAIM_EXPIRED = N_("That link has expired or was already used. Send /pick in the group again.")
PICK_CHAT_GONE = N_("This pick was stopped: I was removed from <b>{title}</b>, where the photos were meant to go.")

# --- forwarding ----------------------------------------------------------------------------
FORWARD_HOW = N_(
    "Choose a group or channel and picks you make here will be posted there. "
    "For a channel, I need to be an administrator who can post."
)
FORWARD_CURRENT = N_("Picks you make here go to <b>{title}</b>.")
BUTTON_CHOOSE_GROUP = N_("Choose a group")
BUTTON_CHOOSE_CHANNEL = N_("Choose a channel")
BUTTON_STOP_FORWARDING = N_("Stop forwarding")
FORWARD_SET = N_("✅ From now on, picks you make here go to <b>{title}</b>. /forward off stops that.")
FORWARD_OFF = N_("Forwarding stopped: picks you make here arrive here.")
FORWARD_NONE = N_("Forwarding is already off: picks arrive here.")
# /forward sent in a group, or in one of its forum topics ({title}: "Family" or "Family › Trip").
FORWARD_HERE_CONFIRM = N_("Send the photos you pick in our private chat to <b>{title}</b>?")
BUTTON_FORWARD_HERE = N_("✅ Send my picks there")
FORWARD_HERE_SENT = N_("{name}, I sent you a private message: confirm there.")
FORWARD_HERE_OPEN_PRIVATE = N_("{name}, open our private chat first (tap below), then send /forward here again.")
FORWARD_HERE_EXPIRED = N_("That button has expired or was already used. Send /forward in the group again.")
FORWARD_GONE = N_("I was removed from <b>{title}</b>, so your picks now arrive here instead.")
FORWARD_CHAT_GONE = N_("I can't see that chat. Add me to it first, then choose it again.")
FORWARD_BOT_CANNOT_POST = N_("I'm not allowed to post there. In a channel, make me an administrator who can post.")
FORWARD_USER_NOT_MEMBER = N_("You are not a member of that chat, so I can't post there for you.")
FORWARD_USER_NOT_ADMIN = N_("Only channel administrators who can post may send photos there.")

# --- who may post into a group (plain text: also shown as a button's alert) ------------------
USER_CANNOT_POST_MEDIA = N_("You may not post photos and videos in that chat, so I won't post them there for you.")
GROUP_BUTTON_TOO_OFTEN = N_("That button was pressed too often. Please wait a minute and try again.")


# --- admin ---------------------------------------------------------------------------------
ADMIN_STATS = N_(
    "<b>Bot statistics</b>\n"
    "Users: {users}\n"
    "Google links: {links_active} active, {links_broken} broken\n"
    "Picks under way: {active_sessions}\n"
    "Delivered today (UTC): {delivered_today}"
)

# --- languages -----------------------------------------------------------------------------
# NOTE: Above the buttons, each naming a language in itself; {language} is the current one's name.
LANGUAGE_CHOOSE = N_("Which language should I speak with you? Now: <b>{language}</b>")
# NOTE: Button: follow the language the person's Telegram app is set to.
LANGUAGE_AUTOMATIC = N_("🌐 As my Telegram app")
# NOTE: Said in the new language: name your own language here.
LANGUAGE_SAVED = N_("✅ From now on I speak English with you.")
# NOTE: In a group's /settings: progress lines, summaries and “Shared by” captions are in this language.
SETTINGS_GROUP_LANGUAGE = N_("Messages for the whole group are in <b>{language}</b>.")
BUTTON_GROUP_LANGUAGE = N_("🌐 Group language")
GROUP_LANGUAGE_CHOOSE = N_("In which language should I write messages for the whole group? Now: <b>{language}</b>")
GROUP_LANGUAGE_SAVED = N_("✅ Messages for the whole group are now in {language}.")

# --- buttons that are not (or no longer) ours ---------------------------------------------
BUTTON_UNKNOWN = N_("This button no longer works. Send /help to see what I can do.")


# --- Telegram's limits (issue 11: summaries, checks Telegram will not answer) ----------------
SUMMARY_MORE = NP_(
    "· and {count} more not delivered (too many reasons to list here)",
    "· and {count} more not delivered (too many reasons to list here)",
)
SETTINGS_CANNOT_CHECK = N_(
    "I can't see who the admins of this group are, so I can't tell whether you may change how photos arrive "
    "here. Making me an admin lets me check."
)

# --- rendering codes -----------------------------------------------------------------------
_SAYINGS: dict[Code, str | Plural] = {
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
    Code.FORWARD_HERE_EXPIRED: FORWARD_HERE_EXPIRED,
    Code.CHAT_GONE: FORWARD_CHAT_GONE,
    Code.BOT_CANNOT_POST: FORWARD_BOT_CANNOT_POST,
    Code.USER_NOT_MEMBER: FORWARD_USER_NOT_MEMBER,
    Code.USER_NOT_ADMIN: FORWARD_USER_NOT_ADMIN,
    Code.USER_CANNOT_POST_MEDIA: USER_CANNOT_POST_MEDIA,
    Code.GROUP_BUTTON_TOO_OFTEN: GROUP_BUTTON_TOO_OFTEN,
    Code.ARCHIVE_OFFER_NOT_YOURS: ARCHIVE_OFFER_NOT_YOURS,
    Code.ARCHIVE_OFFER_OVER: ARCHIVE_OFFER_OVER,
    Code.BOT_MISCONFIGURED: BOT_MISCONFIGURED,
    Code.REPEATS_NOT_YOURS: REPEATS_NOT_YOURS,
    Code.REPEATS_OVER: REPEATS_OVER,
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

_SHOWN_NAMES = 5  # files a summary names per reason; the rest are counted


class Speaker:
    """The messages in one language. Parameters are filled in as given (callers escape text for HTML), except
    that whole numbers are written the reader's way (1,000 / 1.000 / 1 000)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._catalog = i18n.translations(language)

    def __call__(self, message: str, /, **params: object) -> str:
        return self._catalog.gettext(message).format(**self._numbers(params))

    def plural(self, message: Plural, count: int, /, **params: object) -> str:
        """The form of `message` for `count` (ngettext), `{count}` filled in."""
        form = self._catalog.ngettext(message[0], message[1], count)
        return form.format(**self._numbers({**params, "count": count}))

    def say(self, code: Code, **params: object) -> str:
        """The sentence for `code`, its parameters filled in (text parameters HTML-escaped)."""
        values = {name: html(value) if isinstance(value, str) else value for name, value in params.items()}
        message = _SAYINGS[code]
        if isinstance(message, tuple):
            count = values.pop("count")
            assert isinstance(count, int)
            return self.plural(message, count, **values)
        return self(message, **values)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def file_size(self, size: int) -> str:
        if size >= 1_000_000_000:
            return format_unit(size / 1e9, "digital-gigabyte", length="short", format="#,##0.0", locale=self.locale)
        if size >= 1_000_000:
            return format_unit(round(size / 1e6), "digital-megabyte", length="short", locale=self.locale)
        return format_unit(max(1, round(size / 1e3)), "digital-kilobyte", length="short", locale=self.locale)

    def date(self, timestamp: float) -> str:
        """A day the reader's way: "Jul 14, 2026", "14 jul 2026". In UTC: Google gives capture times without the
        place's time zone, so a photo taken late at night may show the next day."""
        return format_date(datetime.fromtimestamp(timestamp, UTC).date(), format="medium", locale=self.locale)

    def duration(self, seconds: float) -> str:
        """A duration in words: "10 minutes"."""
        return format_timedelta(timedelta(seconds=seconds), threshold=2, locale=self.locale)

    def skip_reason(self, reason: SkipReason, detail: str | None = None) -> str:
        """Why an item was not delivered, as the summary shows it (not escaped: the summary escapes it)."""
        sentence = _SKIP_REASONS[reason]
        if reason is SkipReason.TOO_BIG:
            return self(sentence, limit=self.file_size(int(detail or 0)))
        if reason is SkipReason.TELEGRAM_REFUSED:
            return self(sentence, error=detail or "")
        return self(sentence)

    def summary(self, total: int, sent: int, skipped: dict[str, list[str]]) -> str:
        """One summary line, then one line per reason with the files it applies to."""
        if sent == total:
            head = self.plural(SUMMARY_ALL, total)
        elif sent == 0:
            head = self(SUMMARY_NONE, total=total)
        else:
            head = self(SUMMARY_SOME, sent=sent, total=total)
        lines = [head]
        for reason, names in skipped.items():
            shown = ", ".join(html(n) for n in names[:_SHOWN_NAMES])
            if len(names) > _SHOWN_NAMES:
                shown += self.plural(SUMMARY_AND_MORE, len(names) - _SHOWN_NAMES)
            lines.append(self(SUMMARY_LINE, count=len(names), reason=html(reason), names=shown))
        return "\n".join(lines)

    def posted_in(self, title: str, link: str | None) -> str:
        where = f"<b>{html(title)}</b>" if title else self(THE_CHOSEN_CHAT)
        return self(POSTED_IN_LINK, where=where, link=html(link)) if link else self(POSTED_IN, where=where)

    def _numbers(self, params: dict[str, object]) -> dict[str, object]:
        return {
            name: self.number(value) if isinstance(value, int) and not isinstance(value, bool) else value
            for name, value in params.items()
        }


@cache
def speaker(language: str) -> Speaker:
    return Speaker(language)


ENGLISH = speaker(i18n.SOURCE)
