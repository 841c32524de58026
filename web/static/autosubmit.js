// Forms marked data-autosubmit go on by themselves (the button stays for browsers without scripts).
document.querySelectorAll("form[data-autosubmit]").forEach((form) => form.submit());
