# Portal de Cordon, español. Neutro para España y América Latina: "equipo"
# en lugar de "ordenador" o "computadora", y tuteo. Frases cortas, sin culpas.

language-name = Español
language-switch = Idioma
footer = Esta página es de { $isp }. Aquí nunca te pediremos una contraseña.

## Duraciones

duration-moments = un momento
duration-seconds = { $n ->
    [one] 1 segundo
   *[other] { $n } segundos
}
duration-minutes = { $n ->
    [one] 1 minuto
   *[other] { $n } minutos
}
duration-hours = { $n ->
    [one] 1 hora
   *[other] { $n } horas
}
duration-days = { $n ->
    [one] 1 día
   *[other] { $n } días
}

## La página, según la situación

quarantined-title = Tu internet está en pausa por ahora
quarantined-lead = Un equipo u otro aparato de tu casa ha estado enviando correo basura (spam). Casi siempre pasa sin que el dueño lo sepa: un programa dañino se ha escondido en el aparato y envía el correo por su cuenta.
quarantined-why = Para protegerte a ti y a los demás, { $isp } ha limitado tu conexión. Puedes seguir abriendo esta página y descargar las herramientas de limpieza.
quarantined-back = Tu conexión volverá sola. No hace falta que llames a nadie.

noticed-title = Puede que un aparato de tu casa esté enviando correo basura
noticed-lead = Parece que un equipo u otro aparato de tu conexión está enviando correo basura (spam), seguramente sin que lo sepas. Tu internet funciona con normalidad. Revisa tus aparatos con los pasos de abajo para que { $isp } no tenga que limitar tu conexión.

probation-title = Tu internet ya funciona de nuevo
probation-lead = Gracias por limpiar tus aparatos. Si alguno vuelve a enviar correo basura, { $isp } limitará tu conexión otra vez, y durante más tiempo. Los consejos de abajo te ayudan a mantenerlos limpios.

clean-title = Tu internet funciona con normalidad
clean-lead = No tienes que hacer nada. Si una página no se abrió, vuelve a intentarlo.

unknown-title = Ahora mismo no podemos consultar tu conexión
unknown-lead = Si ves esta página en lugar de la que buscabas, puede que un aparato de tu casa haya enviado correo basura y que tu conexión esté limitada. Los pasos de abajo te ayudan. La conexión vuelve sola cuando el correo basura se detiene.
check-again = Volver a consultar

## Datos de la conexión

facts-title = Sobre tu conexión
fact-since = Tu conexión lleva limitada { $duration }.
fact-account = Se trata de tu cuenta { $account }. Sigue limitada en cualquier conexión hasta que el ordenador esté limpio.
fact-attempts = { $n ->
    [one] Desde entonces, un aparato ha intentado enviar correo una vez.
   *[other] Desde entonces, un aparato ha intentado enviar correo { $n } veces.
}
fact-last = El último intento fue hace { $duration }.
fact-no-attempts = Desde entonces, ningún aparato ha intentado enviar correo.
fact-quiet = Tu conexión vuelve sola cuando tus aparatos pasan { $period } sin enviar correo. Por ahora llevan { $quiet } en silencio.
fact-quiet-enough = Tus aparatos llevan { $quiet } sin enviar correo. Es suficiente: tu conexión volverá en unos minutos.
fact-fixed-end = { $isp } ha fijado cuándo termina este límite. Tu conexión volverá sola dentro de { $duration }.
reason-detection = Nuestro sistema detectó el correo por sí mismo.
reason-report = Otros servicios de correo nos avisaron de correo basura desde tu conexión.
reason-operator = Nuestro equipo de soporte limitó la conexión.

## Qué hacer

steps-title = Qué hacer
step-find = Piensa en todos los aparatos que usan tu internet: equipos de sobremesa, portátiles, teléfonos y tabletas. Cualquiera puede ser el que envía el correo.
step-clean = Limpia cada uno con los pasos de su sistema, aquí abajo. Toca un sistema para ver sus pasos.
step-button = Cuando termines, pulsa el botón «He limpiado mi equipo», más abajo.
step-wait = Después, espera. Tu conexión vuelve sola cuando el correo basura se detiene.
step-wait-fixed = Después, espera. Tu conexión volverá sola dentro de { $duration }.

os-windows = Equipo con Windows
windows-1 = Abre el menú Inicio, escribe «Seguridad de Windows» y ábrelo.
windows-2 = Elige «Protección antivirus y contra amenazas» y luego «Opciones de examen». Marca «Examen completo» y pulsa «Examinar ahora». Puede tardar una hora. Deja que termine.
windows-3 = Si encuentra algo, elige «Quitar».
windows-4 = Para una segunda revisión, descarga una herramienta de limpieza de la lista de esta página y ejecútala.
windows-5 = Abre Configuración y luego «Windows Update». Instala todas las actualizaciones y reinicia el equipo.

os-macos = Mac
macos-1 = Abre el menú Apple y luego «Ajustes del Sistema», «General» y «Actualización de software». Instala todas las actualizaciones.
macos-2 = Abre la carpeta «Aplicaciones». Mueve a la Papelera los programas que no conozcas o que no hayas instalado tú.
macos-3 = En «Ajustes del Sistema», abre «General» y luego «Ítems de inicio». Quita lo que no reconozcas.
macos-4 = Para una segunda revisión, descarga una herramienta de limpieza de la lista de esta página y ejecútala.

os-android = Teléfono o tableta Android
android-1 = Abre la app Play Store. Toca tu foto, luego «Play Protect» y después «Analizar».
android-2 = Abre «Ajustes» y luego «Aplicaciones». Desinstala las apps que no conozcas o que no hayas instalado tú.
android-3 = Abre «Ajustes» y luego «Sistema» o «Actualización de software». Instala todas las actualizaciones.
android-4 = Instala apps solo desde Play Store.

os-iphone = iPhone o iPad
iphone-1 = Abre «Ajustes», «General» y «Actualización de software». Instala la actualización.
iphone-2 = Abre «Ajustes», «General» y «VPN y gestión de dispositivos». Elimina los perfiles que no hayas añadido tú.
iphone-3 = Borra las apps que no conozcas.

os-linux = Equipo con Linux
linux-1 = Instala todas las actualizaciones con el actualizador de tu sistema.
linux-2 = Mira qué programas envían correo: ejecuta «ss -tnp state established '( dport = :25 )'» en una terminal. Si aparece algún programa, es sospechoso. Elimínalo.
linux-3 = Revisa «crontab -l» y los programas de inicio por si hay entradas que no conoces, y quítalas. Después cambia tus contraseñas.

other-devices = Reinicia también tu router. Si todavía tiene la contraseña que viene impresa en su etiqueta, cámbiala. Las cámaras, los televisores inteligentes y otros aparatos también pueden estar infectados: actualízalos o desenchúfalos durante un día.

## El botón

release-title = ¿Has terminado de limpiar?
release-text = Pulsa el botón cuando hayas limpiado tus aparatos. Entonces comprobamos que el correo basura se ha detenido. Si es así, tu internet vuelve a funcionar en el acto.
release-button = He limpiado mi equipo
release-left = { $n ->
    [one] Puedes usar este botón 1 vez más.
   *[other] Puedes usar este botón { $n } veces más.
}
release-none-left = Esta vez no puedes usar el botón. Tu conexión volverá sola igualmente cuando el correo basura se detenga.
release-fixed = Esta vez no hace falta ningún botón. { $isp } ha fijado cuándo termina el límite: tu conexión volverá sola dentro de { $duration }.

## Herramientas

tools-title = Herramientas de limpieza
tools-intro = Puedes descargarlas aunque tu conexión esté limitada.
tools-sha = Suma de comprobación SHA-256

## Para que no vuelva a pasar

prevent-title = Cómo evitar que vuelva a pasar
prevent-updates = Instala las actualizaciones cuando tus aparatos te lo pidan. Activa las actualizaciones automáticas.
prevent-protection = Mantén activados la protección y el cortafuegos que trae el sistema (Seguridad de Windows en Windows, Play Protect en Android).
prevent-attachments = No abras archivos adjuntos ni enlaces de correos que no esperabas, aunque parezcan de alguien que conoces.
prevent-sources = Instala programas y apps solo de sitios de confianza, como las tiendas oficiales.
prevent-passwords = Usa una contraseña distinta para cada cuenta, y cambia la del router si sigue siendo la de la etiqueta.

## Ayuda

support-title = ¿Necesitas ayuda?
support-text-call-or-write = Llama o escribe a { $isp }. Lo revisamos contigo paso a paso.
support-text-call = Llama a { $isp }. Lo revisamos contigo paso a paso.
support-text-write = Escribe a { $isp }. Te respondemos y lo revisamos contigo paso a paso.
support-text-web = Encontrarás ayuda de { $isp } en su página web.
support-text-none = Para contactar con { $isp }, usa el teléfono o la dirección de tu factura o tu contrato.
support-phone = Teléfono
support-email = Correo
support-web = Web
support-hours = Horario

## Respuestas al botón

back = Volver a la página de limpieza
outcome-released-title = Tu internet ya funciona de nuevo
outcome-released-text = Gracias. Puede tardar un minuto. Después vuelve a abrir la página que querías.
outcome-still-sending-title = Todavía no
outcome-still-sending-text = Un aparato de tu conexión intentó enviar correo hace { $ago }. Tu conexión se abrirá cuando lleve { $wait } más en silencio. Revisa también tus otros aparatos y vuelve a intentarlo.
outcome-too-early-title = Todavía no
outcome-too-early-text = El límite tiene que durar un poco más. Vuelve a intentarlo dentro de { $wait }.
outcome-none-left-title = Contáctanos, por favor
outcome-none-left-text = Esta vez el botón no puede abrir tu conexión. Nuestro equipo de soporte puede abrirla después de revisarla contigo. Tu conexión también volverá sola más adelante.
outcome-not-quarantined-title = Tu internet no está limitado
outcome-not-quarantined-text = No tienes que hacer nada. Si una página no se abrió, vuelve a intentarlo.
outcome-unavailable-title = Inténtalo de nuevo en unos minutos
outcome-unavailable-text = Ahora mismo no hemos podido comprobar tu conexión. Espera unos minutos y vuelve a pulsar el botón, o contáctanos.

## Problemas

problem-title = Eso no ha funcionado
problem-not-found = Esta página no existe.
problem-form-expired = La página estuvo abierta mucho tiempo. Pulsa el botón una vez más, por favor.
problem-bad-request = No hemos podido leer esta petición.
problem-back = Ir a la página de limpieza

## The notice page (a noticed connection: nothing is blocked)

notice-continue-title = Tu página está a un clic
notice-continue-text = Tu internet funciona con normalidad. Cuando lo hayas leído, el botón te lleva a la página que pediste. Este aviso volverá de vez en cuando hasta que pare el correo basura.
notice-button = Entendido, llévame a mi página
notice-asked = Pediste: { $url }
