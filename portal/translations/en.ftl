# Cordon portal, English. Write for someone who has never heard the word
# "malware": short sentences, one action per step, no blame.

language-name = English
language-switch = Language
footer = This page comes from { $isp }. We will never ask for a password here.

## Durations (the page words them; plurals by count)

duration-moments = a moment
duration-seconds = { $n ->
    [one] 1 second
   *[other] { $n } seconds
}
duration-minutes = { $n ->
    [one] 1 minute
   *[other] { $n } minutes
}
duration-hours = { $n ->
    [one] 1 hour
   *[other] { $n } hours
}
duration-days = { $n ->
    [one] 1 day
   *[other] { $n } days
}

## The cleanup page, by where the visitor stands

quarantined-title = Your internet is paused for now
quarantined-lead = A computer or another device in your home has been sending junk mail (spam). This almost always happens without the owner knowing: a harmful program has hidden itself on the device and sends the mail.
quarantined-why = To protect you and others, { $isp } has limited your connection. You can still open this page and download the cleanup tools.
quarantined-back = Your connection comes back by itself. You do not need to call anyone.

noticed-title = A device in your home may be sending junk mail
noticed-lead = A computer or another device on your connection seems to be sending junk mail (spam), probably without you knowing. Your internet works as usual. Please check your devices with the steps below, so that { $isp } does not have to limit your connection.

probation-title = Your internet works again
probation-lead = Thank you for cleaning up. If a device starts sending junk mail again, { $isp } will limit your connection again, for longer. The tips below help keep your devices clean.

clean-title = Your internet works normally
clean-lead = There is nothing you need to do. If a page did not open, please try again.

unknown-title = We could not look up your connection right now
unknown-lead = If you see this page instead of the site you wanted, a device in your home may have sent junk mail and your connection may be limited. The steps below help. Your connection comes back by itself when the junk mail stops.
check-again = Check again

## Facts about the visitor's connection

facts-title = About your connection
fact-since = Your connection has been limited for { $duration }.
fact-account = This is about your account { $account }. It stays limited on any connection until the computer is clean.
fact-attempts = { $n ->
    [one] Since then, a device has tried to send mail once.
   *[other] Since then, a device has tried to send mail { $n } times.
}
fact-last = The last try was { $duration } ago.
fact-no-attempts = Since then, no device has tried to send mail.
fact-quiet = Your connection comes back by itself when your devices have sent no mail for { $period }. So far they have been quiet for { $quiet }.
fact-quiet-enough = Your devices have sent no mail for { $quiet }. That is long enough: your connection comes back in a few minutes.
fact-fixed-end = { $isp } has set a fixed end for this limit. Your connection comes back by itself in { $duration }.
reason-detection = Our system saw the mail itself.
reason-report = Other mail services told us about junk mail from your connection.
reason-operator = Our support team limited the connection.

## What to do

steps-title = What to do
step-find = Think of every device that uses your internet: computers, laptops, phones and tablets. Any of them can be the one.
step-clean = Clean each one with the steps for its system below. Tap a system to see its steps.
step-button = When you are done, press the button "I have cleaned my computer" further down.
step-wait = Then wait. Your connection comes back by itself when the junk mail stops.
step-wait-fixed = Then wait. Your connection comes back by itself in { $duration }.

os-windows = Windows computer
windows-1 = Open the Start menu, type "Windows Security" and open it.
windows-2 = Choose "Virus & threat protection", then "Scan options". Choose "Full scan" and press "Scan now". This can take an hour. Let it finish.
windows-3 = If it finds something, choose "Remove".
windows-4 = For a second check, download a cleanup tool from the list on this page and run it.
windows-5 = Open Settings, then "Windows Update". Install all updates and restart the computer.

os-macos = Mac
macos-1 = Open the Apple menu, then "System Settings", "General" and "Software Update". Install all updates.
macos-2 = Open the "Applications" folder. Move programs you do not know, or did not install yourself, to the Bin.
macos-3 = In "System Settings", open "General", then "Login Items". Remove anything you do not recognise.
macos-4 = For a second check, download a cleanup tool from the list on this page and run it.

os-android = Android phone or tablet
android-1 = Open the Play Store app. Tap your picture, then "Play Protect", then "Scan".
android-2 = Open "Settings", then "Apps". Remove apps you do not know or did not install yourself.
android-3 = Open "Settings", then "System" or "Software update". Install all updates.
android-4 = Only install apps from the Play Store.

os-iphone = iPhone or iPad
iphone-1 = Open "Settings", "General" and "Software Update". Install the update.
iphone-2 = Open "Settings", "General" and "VPN & Device Management". Remove any profile you did not add yourself.
iphone-3 = Delete apps you do not know.

os-linux = Linux computer
linux-1 = Install all updates with your system's software updater.
linux-2 = See which programs send mail: run "ss -tnp state established '( dport = :25 )'" in a terminal. A program listed there is suspect. Remove it.
linux-3 = Check "crontab -l" and your startup programs for entries you do not know, and remove them. Then change your passwords.

other-devices = Also restart your internet router. If it still has the password printed on its label, change it. Cameras, smart TVs and other gadgets can be infected too: update them, or unplug them for a day.

## The button

release-title = Finished cleaning?
release-text = Press the button when you have cleaned your devices. We then check that the junk mail has stopped. If it has, your internet works again at once.
release-button = I have cleaned my computer
release-left = { $n ->
    [one] You can use this button 1 more time.
   *[other] You can use this button { $n } more times.
}
release-none-left = You cannot use the button this time. Your connection still comes back by itself when the junk mail stops.
release-fixed = No button is needed this time. { $isp } has set when the limit ends: your connection comes back by itself in { $duration }.

## Tools

tools-title = Cleanup tools
tools-intro = You can download these even while your connection is limited.
tools-sha = SHA-256 checksum

## Staying safe

prevent-title = How to keep it from happening again
prevent-updates = Install updates when your devices ask for them. Turn on automatic updates.
prevent-protection = Keep the built-in protection and firewall switched on (Windows Security on Windows, Play Protect on Android).
prevent-attachments = Do not open attachments or links in mail you did not expect, even when it seems to come from someone you know.
prevent-sources = Only install programs and apps from places you trust, such as the official app stores.
prevent-passwords = Use a different password for each account, and change your router's password if it is still the one on its label.

## Support

support-title = Need help?
support-text-call-or-write = Call or write to { $isp }. We will go through it with you, step by step.
support-text-call = Call { $isp }. We will go through it with you, step by step.
support-text-write = Write to { $isp }. We will answer and go through it with you, step by step.
support-text-web = You find help from { $isp } on its website.
support-text-none = To reach { $isp }, use the phone number or address on your bill or contract.
support-phone = Phone
support-email = Email
support-web = Web
support-hours = Opening hours

## Answers to the button

back = Back to the cleanup page
outcome-released-title = Your internet works again
outcome-released-text = Thank you. It can take a minute. Then open the page you wanted once more.
outcome-still-sending-title = Not yet
outcome-still-sending-text = A device on your connection still tried to send mail { $ago } ago. Your connection opens when it has been quiet for { $wait } more. Check your other devices too, then try again.
outcome-too-early-title = Not yet
outcome-too-early-text = The limit has to last a little longer. Please try again in { $wait }.
outcome-none-left-title = Please contact us
outcome-none-left-text = The button cannot open your connection this time. Our support team can open it after checking it with you. Your connection also comes back by itself later.
outcome-not-quarantined-title = Your internet is not limited
outcome-not-quarantined-text = There is nothing you need to do. If a page did not open, please try again.
outcome-unavailable-title = Please try again in a few minutes
outcome-unavailable-text = We could not check your connection just now. Wait a few minutes and press the button again, or contact us.

## Problems

problem-title = That did not work
problem-not-found = This page does not exist.
problem-form-expired = The page was open for a long time. Please press the button once more.
problem-bad-request = We could not read this request.
problem-back = Go to the cleanup page

## The notice page (a noticed connection: nothing is blocked)

notice-continue-title = Your page is one click away
notice-continue-text = Your internet works as usual. Once you have read this, the button takes you on to the page you asked for. This notice comes back now and then until the junk mail stops.
notice-button = I understand, take me to my page
notice-asked = You asked for: { $url }
