import json

from django.core.management.base import BaseCommand, CommandError

from release.draw import verify_document
from release.models import ReleaseWindow
from release.selectors import draw_document


class Command(BaseCommand):
    help = (
        "Recompute a draw from its published data alone (F6): C from the secret, R from the "
        "requests, the seed, every rank and every outcome. Give the window's id (its public "
        "document is read, as /api/v1/release/draws/<id> serves it) or --file with a document "
        "downloaded from there. Exits with 1 when anything differs."
    )

    def add_arguments(self, parser):
        parser.add_argument("window", nargs="?", type=int)
        parser.add_argument("--file", help="a draw document (JSON) saved from the public API")

    def handle(self, *args, **options):
        if options["file"]:
            try:
                with open(options["file"], encoding="utf-8") as handle:
                    document = json.load(handle)
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        elif options["window"] is not None:
            window = (
                ReleaseWindow.objects.select_related("checkpoint")
                .filter(pk=options["window"])
                .first()
            )
            if window is None:
                raise CommandError(f"no release window {options['window']}")
            document = draw_document(window)
        else:
            raise CommandError("give a window id or --file")
        if document.get("status") != ReleaseWindow.Status.DRAWN:
            raise CommandError(f"window {document.get('id')} has not been drawn yet")
        verdict = verify_document(document)
        if verdict.ok:
            self.stdout.write(
                f"draw {document.get('id')} verified: C, R = {document['merkle_root']}, the seed, "
                f"{document['request_count']} ranks and outcomes all match"
            )
            return
        for problem in verdict.problems:
            self.stderr.write(problem)
        raise CommandError(f"draw {document.get('id')} does NOT match its published data")
