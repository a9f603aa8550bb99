# Cordon-portalen, dansk. Skrevet til en, der aldrig har hørt ordet
# "malware": korte sætninger, ét trin ad gangen, ingen skyld.

language-name = Dansk
language-switch = Sprog
footer = Denne side kommer fra { $isp }. Vi beder dig aldrig om en adgangskode her.

## Varigheder

duration-moments = et øjeblik
duration-seconds = { $n ->
    [one] 1 sekund
   *[other] { $n } sekunder
}
duration-minutes = { $n ->
    [one] 1 minut
   *[other] { $n } minutter
}
duration-hours = { $n ->
    [one] 1 time
   *[other] { $n } timer
}
duration-days = { $n ->
    [one] 1 dag
   *[other] { $n } dage
}

## Siden, alt efter hvordan forbindelsen står

quarantined-title = Dit internet er sat på pause lige nu
quarantined-lead = En computer eller en anden enhed i dit hjem har sendt store mængder uønsket post (spam). Det sker næsten altid, uden at ejeren ved det: et skadeligt program har gemt sig på enheden og sender posten af sig selv.
quarantined-why = For at beskytte dig og andre har { $isp } begrænset din forbindelse. Du kan stadig åbne denne side og hente oprydningsværktøjerne.
quarantined-back = Din forbindelse kommer tilbage af sig selv. Du behøver ikke ringe til nogen.

noticed-title = En enhed i dit hjem sender måske uønsket post
noticed-lead = Det ser ud til, at en computer eller en anden enhed på din forbindelse sender uønsket post (spam), sikkert uden at du ved det. Dit internet virker som normalt. Tjek dine enheder med trinene herunder, så { $isp } ikke behøver at begrænse din forbindelse.

probation-title = Dit internet virker igen
probation-lead = Tak, fordi du ryddede op. Hvis en enhed begynder at sende uønsket post igen, begrænser { $isp } din forbindelse igen, og i længere tid. Rådene herunder hjælper dig med at holde dine enheder rene.

clean-title = Dit internet virker normalt
clean-lead = Du behøver ikke gøre noget. Hvis en side ikke åbnede, så prøv igen.

unknown-title = Vi kan ikke slå din forbindelse op lige nu
unknown-lead = Hvis du ser denne side i stedet for den, du ville åbne, har en enhed i dit hjem måske sendt uønsket post, og din forbindelse er måske begrænset. Trinene herunder hjælper. Forbindelsen kommer tilbage af sig selv, når den uønskede post stopper.
check-again = Tjek igen

## Fakta om forbindelsen

facts-title = Om din forbindelse
fact-since = Din forbindelse har været begrænset i { $duration }.
fact-account = Det gælder dit abonnement { $account }. Det er begrænset på enhver forbindelse, indtil computeren er renset.
fact-attempts = { $n ->
    [one] Siden da har en enhed forsøgt at sende post én gang.
   *[other] Siden da har en enhed forsøgt at sende post { $n } gange.
}
fact-last = Det seneste forsøg var for { $duration } siden.
fact-no-attempts = Siden da har ingen enhed forsøgt at sende post.
fact-quiet = Din forbindelse kommer tilbage af sig selv, når dine enheder ikke har sendt post i { $period }. Indtil nu har der været stille i { $quiet }.
fact-quiet-enough = Dine enheder har ikke sendt post i { $quiet }. Det er længe nok: din forbindelse kommer tilbage om få minutter.
fact-fixed-end = { $isp } har fastsat, hvornår begrænsningen slutter. Din forbindelse kommer tilbage af sig selv om { $duration }.
reason-detection = Vores system opdagede selv posten.
reason-report = Andre posttjenester har fortalt os om uønsket post fra din forbindelse.
reason-operator = Vores kundeservice har begrænset forbindelsen.

## Hvad du skal gøre

steps-title = Sådan gør du
step-find = Tænk på alle de enheder, der bruger dit internet: computere, bærbare, telefoner og tablets. Det kan være en hvilken som helst af dem.
step-clean = Rens hver enkelt med trinene for dens system herunder. Tryk på et system for at se trinene.
step-button = Når du er færdig, så tryk på knappen "Jeg har renset min computer" længere nede.
step-wait = Vent derefter. Din forbindelse kommer tilbage af sig selv, når den uønskede post stopper.
step-wait-fixed = Vent derefter. Din forbindelse kommer tilbage af sig selv om { $duration }.

os-windows = Windows-computer
windows-1 = Åbn menuen Start, skriv "Windows-sikkerhed", og åbn den.
windows-2 = Vælg "Virus- og trusselsbeskyttelse" og derefter "Scanningsindstillinger". Vælg "Fuld scanning", og tryk på "Scan nu". Det kan tage en time. Lad den blive færdig.
windows-3 = Hvis den finder noget, så vælg "Fjern".
windows-4 = Hent et oprydningsværktøj fra listen på denne side, og kør det som ekstra kontrol.
windows-5 = Åbn Indstillinger og derefter "Windows Update". Installer alle opdateringer, og genstart computeren.

os-macos = Mac
macos-1 = Åbn Apple-menuen og derefter "Systemindstillinger", "Generelt" og "Softwareopdatering". Installer alle opdateringer.
macos-2 = Åbn mappen "Programmer". Flyt programmer, du ikke kender eller ikke selv har installeret, til papirkurven.
macos-3 = Åbn "Generelt" og derefter "Login-emner" i "Systemindstillinger". Fjern alt, du ikke genkender.
macos-4 = Hent et oprydningsværktøj fra listen på denne side, og kør det som ekstra kontrol.

os-android = Android-telefon eller -tablet
android-1 = Åbn appen Play Butik. Tryk på dit billede, derefter "Play Protect" og så "Scan".
android-2 = Åbn "Indstillinger" og derefter "Apps". Afinstaller apps, du ikke kender eller ikke selv har installeret.
android-3 = Åbn "Indstillinger" og derefter "System" eller "Softwareopdatering". Installer alle opdateringer.
android-4 = Installer kun apps fra Play Butik.

os-iphone = iPhone eller iPad
iphone-1 = Åbn "Indstillinger", "Generelt" og "Softwareopdatering". Installer opdateringen.
iphone-2 = Åbn "Indstillinger", "Generelt" og "VPN og enhedsadministration". Fjern profiler, du ikke selv har tilføjet.
iphone-3 = Slet apps, du ikke kender.

os-linux = Linux-computer
linux-1 = Installer alle opdateringer med dit systems opdateringsprogram.
linux-2 = Se, hvilke programmer der sender post: kør "ss -tnp state established '( dport = :25 )'" i en terminal. Står der et program, er det mistænkeligt. Fjern det.
linux-3 = Tjek "crontab -l" og dine opstartsprogrammer for ukendte linjer, og fjern dem. Skift derefter dine adgangskoder.

other-devices = Genstart også din router. Har den stadig adgangskoden fra mærkaten, så skift den. Kameraer, smart-tv og andre dimser kan også være inficeret: opdater dem, eller tag stikket ud i et døgn.

## Knappen

release-title = Færdig med at rydde op?
release-text = Tryk på knappen, når du har renset dine enheder. Så tjekker vi, at den uønskede post er stoppet. Er den det, virker dit internet igen med det samme.
release-button = Jeg har renset min computer
release-left = { $n ->
    [one] Du kan bruge knappen 1 gang mere.
   *[other] Du kan bruge knappen { $n } gange mere.
}
release-none-left = Du kan ikke bruge knappen denne gang. Din forbindelse kommer stadig tilbage af sig selv, når den uønskede post stopper.
release-fixed = Denne gang skal du ikke trykke på nogen knap. { $isp } har fastsat, hvornår begrænsningen slutter: din forbindelse kommer tilbage af sig selv om { $duration }.

## Værktøjer

tools-title = Oprydningsværktøjer
tools-intro = Du kan hente dem, selv om din forbindelse er begrænset.
tools-sha = SHA-256-kontrolsum

## Så det ikke sker igen

prevent-title = Sådan undgår du, at det sker igen
prevent-updates = Installer opdateringer, når dine enheder beder om det. Slå automatiske opdateringer til.
prevent-protection = Lad den indbyggede beskyttelse og firewall være slået til (Windows-sikkerhed på Windows, Play Protect på Android).
prevent-attachments = Åbn ikke vedhæftede filer eller links i mails, du ikke ventede, heller ikke når de ser ud til at komme fra en, du kender.
prevent-sources = Installer kun programmer og apps fra steder, du stoler på, for eksempel de officielle app-butikker.
prevent-passwords = Brug en ny adgangskode til hver konto, og skift routerens adgangskode, hvis det stadig er den fra mærkaten.

## Hjælp

support-title = Brug for hjælp?
support-text-call-or-write = Ring eller skriv til { $isp }. Vi gennemgår det med dig, trin for trin.
support-text-call = Ring til { $isp }. Vi gennemgår det med dig, trin for trin.
support-text-write = Skriv til { $isp }. Vi svarer og gennemgår det med dig, trin for trin.
support-text-web = Du finder hjælp fra { $isp } på deres hjemmeside.
support-text-none = Brug telefonnummeret eller adressen på din regning eller kontrakt for at kontakte { $isp }.
support-phone = Telefon
support-email = E-mail
support-web = Web
support-hours = Åbningstider

## Svar på knappen

back = Tilbage til oprydningssiden
outcome-released-title = Dit internet virker igen
outcome-released-text = Tak. Det kan tage et minut. Åbn så den side, du ville ind på, igen.
outcome-still-sending-title = Ikke endnu
outcome-still-sending-text = En enhed på din forbindelse forsøgte stadig at sende post for { $ago } siden. Din forbindelse åbner, når der har været stille i { $wait } mere. Tjek også dine andre enheder, og prøv så igen.
outcome-too-early-title = Ikke endnu
outcome-too-early-text = Begrænsningen skal vare lidt længere. Prøv igen om { $wait }.
outcome-none-left-title = Kontakt os venligst
outcome-none-left-text = Knappen kan ikke åbne din forbindelse denne gang. Vores kundeservice kan åbne den, når de har gennemgået den med dig. Din forbindelse kommer også tilbage af sig selv senere.
outcome-not-quarantined-title = Dit internet er ikke begrænset
outcome-not-quarantined-text = Du behøver ikke gøre noget. Hvis en side ikke åbnede, så prøv igen.
outcome-unavailable-title = Prøv igen om et par minutter
outcome-unavailable-text = Vi kunne ikke tjekke din forbindelse lige nu. Vent et par minutter, og tryk på knappen igen, eller kontakt os.

## Problemer

problem-title = Det lykkedes ikke
problem-not-found = Denne side findes ikke.
problem-form-expired = Siden har været åben længe. Tryk venligst på knappen én gang til.
problem-bad-request = Vi kunne ikke læse denne forespørgsel.
problem-back = Gå til oprydningssiden

## The notice page (a noticed connection: nothing is blocked)

notice-continue-title = Din side er et klik væk
notice-continue-text = Dit internet virker som normalt. Når du har læst dette, fører knappen dig videre til den side, du bad om. Denne besked kommer igen en gang imellem, indtil den uønskede post stopper.
notice-button = Jeg forstår, før mig til min side
notice-asked = Du bad om: { $url }
