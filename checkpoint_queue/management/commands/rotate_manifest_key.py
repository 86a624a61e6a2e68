from django.core.management.base import BaseCommand
from django.db import transaction

from checkpoint_queue import manifest_keys
from core import audit


class Command(BaseCommand):
    help = (
        "Make a new Ed25519 key to sign the checkpoints' manifests (O1): the current key becomes "
        "the previous one (devices still accept it), the one before is deleted. The keys are "
        "files in MANIFEST_KEY_DIR, never in the database. --if-missing makes the first key only "
        "(make run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Only make a key when there is none yet.",
        )

    def handle(self, *args, **options):
        existing = manifest_keys.current_key_id()
        if options["if_missing"] and existing:
            self.stdout.write(f"manifest key {existing} is current; nothing made")
            return
        current, previous, deleted = manifest_keys.rotate()
        public = {key.key_id: key.base64 for key in manifest_keys.public_keys()}
        with transaction.atomic():
            audit.record(
                "manifest_key.rotated",
                object_type="manifest_key",
                object_id=current,
                after={
                    "current": current,
                    "current_public_key": public.get(current, ""),
                    "previous": previous,
                    "deleted": deleted,
                },
            )
        self.stdout.write(
            f"manifest key {current} is current"
            + (f", {previous} still accepted" if previous else "")
            + (f"; deleted {', '.join(deleted)}" if deleted else "")
        )
